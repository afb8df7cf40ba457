//! Where a client is, for geo-blocking: a country (and first subdivision) looked up in a
//! MaxMind-format database (GeoIP2/GeoLite2 Country or City, or any MMDB with the same
//! `country.iso_code` / `subdivisions[].iso_code` fields).
//!
//! The file comes from `TANDEM_GEOIP_DB`; without it nobody has a known place and geo-blocking
//! blocks nobody (said once at start). The address looked up is the client address from
//! [`crate::client_addr`]: `X-Forwarded-For` counts only from `TANDEM_TRUSTED_PROXIES`.
//!
//! Regions are ISO 3166 codes: a country (`US`) or a country's subdivision (`US-TX`). A client
//! in Texas is in both `US` and `US-TX`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// An ISO 3166 region: `CC` (country) or `CC-SUB` (subdivision), upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    /// Parse `US`, `us`, `US-TX`: two ASCII letters, optionally `-` and 1–3 letters or digits.
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_uppercase();
        let (country, sub) = match s.split_once('-') {
            Some((c, sub)) => (c, Some(sub)),
            None => (s.as_str(), None),
        };
        let country_ok = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        let sub_ok = sub.is_none_or(|x| (1..=3).contains(&x.len()) && x.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !country_ok || !sub_ok {
            return Err(format!("`{s}` is not an ISO 3166 region such as US or US-TX"));
        }
        Ok(Self(s))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Region {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Region> for String {
    fn from(r: Region) -> Self {
        r.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a client is: its country and, when the database knows it, its first subdivision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    /// Country, e.g. `US`.
    pub country: Option<Region>,
    /// Subdivision, e.g. `US-TX`.
    pub subdivision: Option<Region>,
}

impl Place {
    /// Whether the place lies in any of `blocked` (its country or its subdivision is listed).
    pub fn in_any(&self, blocked: &[Region]) -> bool {
        [&self.country, &self.subdivision].into_iter().flatten().any(|r| blocked.contains(r))
    }
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Iso<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Iso<'a>>>,
}

#[derive(Deserialize)]
struct Iso<'a> {
    #[serde(default)]
    iso_code: Option<&'a str>,
}

/// The country database of a process (cheap to clone; empty without `TANDEM_GEOIP_DB`).
#[derive(Clone, Default)]
pub struct Geo {
    reader: Option<Arc<maxminddb::Reader<Vec<u8>>>>,
}

impl fmt::Debug for Geo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Geo").field("loaded", &self.reader.is_some()).finish()
    }
}

impl Geo {
    /// No database: every place is unknown.
    pub fn none() -> Self {
        Self::default()
    }

    /// Read the database at `path`.
    ///
    /// # Errors
    /// The file cannot be read or is not a MaxMind DB.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let reader = maxminddb::Reader::open_readfile(path)
            .map_err(|e| anyhow::anyhow!("TANDEM_GEOIP_DB {}: {e}", path.display()))?;
        Ok(Self { reader: Some(Arc::new(reader)) })
    }

    /// From bytes (tests).
    ///
    /// # Errors
    /// Not a MaxMind DB.
    pub fn from_bytes(bytes: Vec<u8>) -> anyhow::Result<Self> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|e| anyhow::anyhow!("not a MaxMind DB: {e}"))?;
        Ok(Self { reader: Some(Arc::new(reader)) })
    }

    /// Whether a database is loaded.
    pub fn is_loaded(&self) -> bool {
        self.reader.is_some()
    }

    /// Where `ip` is; an empty place when unknown (no database, no entry, lookup error).
    pub fn place(&self, ip: Option<IpAddr>) -> Place {
        let (Some(reader), Some(ip)) = (&self.reader, ip) else { return Place::default() };
        let record = match reader.lookup(ip.to_canonical()).and_then(|r| r.decode::<Record<'_>>()) {
            Ok(Some(r)) => r,
            Ok(None) => return Place::default(),
            Err(e) => {
                tracing::debug!(error.message = %e, "geo lookup failed");
                return Place::default();
            }
        };
        let country = record.country.and_then(|c| c.iso_code).and_then(|c| Region::parse(c).ok());
        let subdivision = match (&country, record.subdivisions.as_ref().and_then(|s| s.first())) {
            (Some(c), Some(sub)) => sub.iso_code.and_then(|s| Region::parse(&format!("{c}-{s}")).ok()),
            _ => None,
        };
        Place { country, subdivision }
    }
}

/// A tiny MaxMind DB writer for tests: an IPv4 database mapping networks to a country and an
/// optional subdivision, in the documented format (24-bit records, data section, metadata).
#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    use std::net::Ipv4Addr;

    #[derive(Clone, Copy)]
    enum Rec {
        Node(usize),
        Empty,
        Data(usize),
    }

    fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
        // Sizes under 29 fit the control byte; tests never need more.
        let size = u8::try_from(size.min(28)).unwrap_or(28);
        if kind <= 7 {
            out.push((kind << 5) | size);
        } else {
            out.push(size);
            out.push(kind - 7);
        }
    }

    fn string(s: &str, out: &mut Vec<u8>) {
        control(2, s.len(), out);
        out.extend_from_slice(s.as_bytes());
    }

    fn uint(kind: u8, v: u64, out: &mut Vec<u8>) {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        control(kind, 8 - skip, out);
        out.extend_from_slice(&bytes[skip..]);
    }

    fn iso(code: &str, out: &mut Vec<u8>) {
        control(7, 1, out);
        string("iso_code", out);
        string(code, out);
    }

    /// Build a database where each `(network, prefix, country, subdivision)` is known.
    pub fn country_db(networks: &[(Ipv4Addr, u8, &str, Option<&str>)]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
        for (net, prefix, country, sub) in networks {
            let offset = data.len();
            control(7, if sub.is_some() { 2 } else { 1 }, &mut data);
            string("country", &mut data);
            iso(country, &mut data);
            if let Some(s) = sub {
                string("subdivisions", &mut data);
                control(11, 1, &mut data);
                iso(s, &mut data);
            }
            let bits = u32::from(*net);
            let mut node = 0;
            for depth in 0..*prefix {
                let bit = ((bits >> (31 - u32::from(depth))) & 1) as usize;
                if depth + 1 == *prefix {
                    nodes[node][bit] = Rec::Data(offset);
                    break;
                }
                node = match nodes[node][bit] {
                    Rec::Node(n) => n,
                    _ => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(n);
                        n
                    }
                };
            }
        }
        let count = nodes.len();
        let mut out = Vec::new();
        for pair in &nodes {
            for rec in pair {
                let v = match rec {
                    Rec::Node(n) => *n,
                    Rec::Empty => count,
                    Rec::Data(off) => count + 16 + off,
                };
                let v = u32::try_from(v).unwrap_or(u32::MAX);
                out.extend_from_slice(&v.to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let mut meta = Vec::new();
        control(7, 9, &mut meta);
        string("binary_format_major_version", &mut meta);
        uint(5, 2, &mut meta);
        string("binary_format_minor_version", &mut meta);
        uint(5, 0, &mut meta);
        string("build_epoch", &mut meta);
        uint(9, 1_700_000_000, &mut meta);
        string("database_type", &mut meta);
        string("Tandem-Test-Country", &mut meta);
        string("description", &mut meta);
        control(7, 1, &mut meta);
        string("en", &mut meta);
        string("test database", &mut meta);
        string("ip_version", &mut meta);
        uint(5, 4, &mut meta);
        string("languages", &mut meta);
        control(11, 1, &mut meta);
        string("en", &mut meta);
        string("node_count", &mut meta);
        uint(6, count as u64, &mut meta);
        string("record_size", &mut meta);
        uint(5, 24, &mut meta);
        out.extend_from_slice(&meta);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn regions_parse_and_places_match_countries_and_subdivisions() {
        assert_eq!(Region::parse("us").unwrap().as_str(), "US");
        assert_eq!(Region::parse("US-TX").unwrap().as_str(), "US-TX");
        for bad in ["", "U", "USA", "U1", "US-", "US-ABCD", "US_TX"] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
        let place = Place { country: Region::parse("US").ok(), subdivision: Region::parse("US-TX").ok() };
        assert!(place.in_any(&[Region::parse("US-TX").unwrap()]));
        assert!(place.in_any(&[Region::parse("US").unwrap()]));
        assert!(!place.in_any(&[Region::parse("FR").unwrap(), Region::parse("US-CA").unwrap()]));
        assert!(!Place::default().in_any(&[Region::parse("FR").unwrap()]));
    }

    #[test]
    fn a_written_database_reads_back() {
        let db = testing::country_db(&[
            (Ipv4Addr::new(10, 1, 0, 0), 16, "FR", None),
            (Ipv4Addr::new(10, 2, 3, 0), 24, "US", Some("TX")),
        ]);
        let geo = Geo::from_bytes(db).expect("reads");
        let fr = geo.place(Some("10.1.200.7".parse().unwrap()));
        assert_eq!(fr.country.as_ref().map(Region::as_str), Some("FR"));
        assert_eq!(fr.subdivision, None);
        let tx = geo.place(Some("10.2.3.4".parse().unwrap()));
        assert_eq!(tx.subdivision.as_ref().map(Region::as_str), Some("US-TX"));
        assert_eq!(geo.place(Some("10.3.0.1".parse().unwrap())), Place::default());
        assert_eq!(geo.place(Some("::1".parse().unwrap())), Place::default());
        assert_eq!(Geo::none().place(Some("10.1.0.1".parse().unwrap())), Place::default());
    }
}
