//! Showcases: a scheduled performance and workshop, opened as a broadcast room at start.
//!
//! - [`input`]: the request bodies and their validation (title, schedule, artists, segments).
//! - [`store`]: PostgreSQL rows of `showcases`; every transition is conditional on the status.
//! - [`schedule`]: start (by the artist, or by the reaper at `starts_at` under a row lock taken
//!   with `skip locked`, so one broker at a time), segment changes (`segment.started` room
//!   events), the early move to the next segment, and the end.
//! - [`ics`]: the iCalendar feed (RFC 5545).
//! - [`questions`]: the workshop's Q&A queue.
//! - [`multistream`]: RTMP/RTMPS/SRT destinations through Livepeer Studio's multistream API.
//! - [`view`]: the JSON shape.

pub(crate) mod ics;
pub(crate) mod input;
pub mod multistream;
pub mod questions;
pub(crate) mod schedule;
pub(crate) mod store;
pub(crate) mod view;

pub use input::{NewShowcase, SegmentInput, ShowcaseChange};
pub use view::{ArtistView, CurrentSegmentView, ShowcaseList, ShowcaseView};
