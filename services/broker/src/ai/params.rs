//! The one table of StreamDiffusion params a room may set, with their bounds and whether a
//! change needs a pipeline reload (from the Daydream contract, `DAYDREAM.md`). Anything not in
//! [`PARAMS`] is refused, as Daydream itself refuses unknown keys.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The models Daydream's StreamDiffusion pipeline serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub enum ModelId {
    /// `stabilityai/sd-turbo` (the default).
    #[default]
    #[serde(rename = "stabilityai/sd-turbo")]
    SdTurbo,
    /// `stabilityai/sdxl-turbo`.
    #[serde(rename = "stabilityai/sdxl-turbo")]
    SdxlTurbo,
    /// `Lykon/dreamshaper-8`.
    #[serde(rename = "Lykon/dreamshaper-8")]
    Dreamshaper8,
    /// `prompthero/openjourney-v4`.
    #[serde(rename = "prompthero/openjourney-v4")]
    Openjourney4,
}

impl ModelId {
    /// The id Daydream uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            ModelId::SdTurbo => "stabilityai/sd-turbo",
            ModelId::SdxlTurbo => "stabilityai/sdxl-turbo",
            ModelId::Dreamshaper8 => "Lykon/dreamshaper-8",
            ModelId::Openjourney4 => "prompthero/openjourney-v4",
        }
    }

    /// Parse the id Daydream uses.
    ///
    /// # Errors
    /// Not one of the four models.
    pub fn parse(s: &str) -> Result<Self, String> {
        serde_json::from_value(Value::String(s.to_string())).map_err(|_| format!("unknown model_id `{s}`"))
    }
}

/// What values a param takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A number in `min..=max`.
    Float { min: f64, max: f64 },
    /// An integer in `min..=max`, optionally a multiple of `step`.
    Int { min: i64, max: i64, step: i64 },
    /// `true` or `false`.
    Bool,
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// Text of 1 to `max_chars` characters, no control characters.
    Text { max_chars: usize },
    /// 1 to 4 non-decreasing integers, each at most `num_inference_steps`.
    TIndexList,
}

/// Whether a change applies live or needs the pipeline reloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Applied to the running pipeline.
    Live,
    /// The pipeline restarts (a visible gap): only with `"reload": true`.
    Reload,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub change: Change,
}

/// Longest prompt, characters.
pub const MAX_PROMPT_CHARS: usize = 500;
/// Default `num_inference_steps` when a room sets none (Daydream's default is 50).
const DEFAULT_STEPS: i64 = 50;

/// Every param a room may set (besides `model_id`, which is its own field and needs a reload).
pub(crate) const PARAMS: &[ParamSpec] = &[
    ParamSpec { name: "prompt", kind: Kind::Text { max_chars: MAX_PROMPT_CHARS }, change: Change::Live },
    ParamSpec { name: "negative_prompt", kind: Kind::Text { max_chars: MAX_PROMPT_CHARS }, change: Change::Live },
    ParamSpec { name: "prompt_interpolation_method", kind: Kind::Choice(&["linear", "slerp"]), change: Change::Live },
    ParamSpec { name: "normalize_prompt_weights", kind: Kind::Bool, change: Change::Live },
    ParamSpec { name: "guidance_scale", kind: Kind::Float { min: 0.0, max: 20.0 }, change: Change::Live },
    ParamSpec { name: "delta", kind: Kind::Float { min: 0.0, max: 1.0 }, change: Change::Live },
    ParamSpec { name: "seed", kind: Kind::Int { min: 0, max: 2_147_483_647, step: 1 }, change: Change::Live },
    ParamSpec { name: "seed_interpolation_method", kind: Kind::Choice(&["linear", "slerp"]), change: Change::Live },
    ParamSpec { name: "normalize_seed_weights", kind: Kind::Bool, change: Change::Live },
    ParamSpec { name: "t_index_list", kind: Kind::TIndexList, change: Change::Live },
    ParamSpec { name: "num_inference_steps", kind: Kind::Int { min: 1, max: 100, step: 1 }, change: Change::Reload },
    ParamSpec { name: "width", kind: Kind::Int { min: 384, max: 1024, step: 64 }, change: Change::Reload },
    ParamSpec { name: "height", kind: Kind::Int { min: 384, max: 1024, step: 64 }, change: Change::Reload },
    ParamSpec { name: "use_safety_checker", kind: Kind::Bool, change: Change::Reload },
    ParamSpec { name: "acceleration", kind: Kind::Choice(&["none", "xformers", "tensorrt"]), change: Change::Reload },
    ParamSpec { name: "skip_diffusion", kind: Kind::Bool, change: Change::Reload },
    ParamSpec { name: "do_add_noise", kind: Kind::Bool, change: Change::Reload },
    ParamSpec { name: "use_denoising_batch", kind: Kind::Bool, change: Change::Reload },
    ParamSpec { name: "enable_similar_image_filter", kind: Kind::Bool, change: Change::Reload },
    ParamSpec {
        name: "similar_image_filter_threshold",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        change: Change::Reload,
    },
];

/// The row of `name`.
pub(crate) fn spec(name: &str) -> Option<&'static ParamSpec> {
    PARAMS.iter().find(|p| p.name == name)
}

/// Check one value against its row; `steps` is the session's `num_inference_steps`.
fn check_value(p: &ParamSpec, v: &Value, steps: i64) -> Result<(), String> {
    let name = p.name;
    match p.kind {
        Kind::Float { min, max } => match v.as_f64() {
            Some(x) if (min..=max).contains(&x) => Ok(()),
            _ => Err(format!("{name} must be a number from {min} to {max}")),
        },
        Kind::Int { min, max, step } => match v.as_i64() {
            Some(x) if (min..=max).contains(&x) && x % step == 0 => Ok(()),
            _ if step > 1 => Err(format!("{name} must be a multiple of {step} from {min} to {max}")),
            _ => Err(format!("{name} must be an integer from {min} to {max}")),
        },
        Kind::Bool => v.as_bool().map(|_| ()).ok_or_else(|| format!("{name} must be true or false")),
        Kind::Choice(options) => match v.as_str() {
            Some(s) if options.contains(&s) => Ok(()),
            _ => Err(format!("{name} must be one of: {}", options.join(", "))),
        },
        Kind::Text { max_chars } => match v.as_str() {
            Some(s) if !s.trim().is_empty() && s.chars().count() <= max_chars && !s.chars().any(char::is_control) => {
                Ok(())
            }
            _ => Err(format!("{name} must be text of 1 to {max_chars} characters")),
        },
        Kind::TIndexList => {
            let list: Option<Vec<i64>> = v.as_array().and_then(|a| a.iter().map(Value::as_i64).collect());
            match list {
                Some(l)
                    if (1..=4).contains(&l.len())
                        && l.windows(2).all(|w| w[0] <= w[1])
                        && l.iter().all(|x| (0..=steps).contains(x)) =>
                {
                    Ok(())
                }
                _ => Err(format!("{name} must be 1 to 4 non-decreasing integers, each at most {steps}")),
            }
        }
    }
}

/// A room's validated params (always with a `prompt`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(pub Map<String, Value>);

impl Params {
    /// The prompt.
    pub fn prompt(&self) -> &str {
        self.0.get("prompt").and_then(Value::as_str).unwrap_or_default()
    }

    fn steps(&self) -> i64 {
        self.0.get("num_inference_steps").and_then(Value::as_i64).unwrap_or(DEFAULT_STEPS)
    }

    /// Validate a whole set of params for a new room (`prompt` required).
    ///
    /// # Errors
    /// An unknown key, a value out of bounds, or no prompt.
    pub fn parse(map: Map<String, Value>) -> Result<Self, String> {
        let p = Self(map);
        p.check_keys(p.0.keys())?;
        if !p.0.contains_key("prompt") {
            return Err("prompt is required".into());
        }
        Ok(p)
    }

    fn check_keys<'a>(&self, keys: impl Iterator<Item = &'a String>) -> Result<(), String> {
        let steps = self.steps();
        for k in keys {
            let Some(spec) = spec(k) else {
                return Err(format!("unknown param `{k}`; allowed: {}", names()));
            };
            let v = &self.0[k.as_str()];
            check_value(spec, v, steps)?;
        }
        Ok(())
    }

    /// Apply `changes` over these params: the merged params and whether a reload is needed.
    ///
    /// # Errors
    /// An unknown key or a value out of bounds (checked against the merged params).
    pub fn merge(&self, changes: &Map<String, Value>) -> Result<(Self, bool), String> {
        let mut merged = self.0.clone();
        let mut reload = false;
        for (k, v) in changes {
            let spec = spec(k).ok_or_else(|| format!("unknown param `{k}`; allowed: {}", names()))?;
            if merged.get(k) != Some(v) {
                reload |= spec.change == Change::Reload;
            }
            merged.insert(k.clone(), v.clone());
        }
        let merged = Self(merged);
        merged.check_keys(merged.0.keys())?;
        Ok((merged, reload))
    }
}

fn names() -> String {
    PARAMS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// The bounds of a float param (the audio mapping stays inside them).
pub(crate) fn float_bounds(name: &str) -> Option<(f64, f64)> {
    match spec(name)?.kind {
        Kind::Float { min, max } => Some((min, max)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn the_table_refuses_unknown_keys_and_out_of_bounds_values() {
        assert!(Params::parse(map(json!({"prompt": "a cat"}))).is_ok());
        assert!(Params::parse(map(json!({"negative_prompt": "x"}))).unwrap_err().contains("prompt is required"));
        assert!(Params::parse(map(json!({"prompt": "a", "lora_dict": {}}))).unwrap_err().contains("unknown param"));
        assert!(Params::parse(map(json!({"prompt": "a", "width": 500}))).is_err());
        assert!(Params::parse(map(json!({"prompt": "a", "width": 512}))).is_ok());
        assert!(Params::parse(map(json!({"prompt": "a", "guidance_scale": 21}))).is_err());
        assert!(Params::parse(map(json!({"prompt": "a", "t_index_list": [10, 5]}))).is_err());
        assert!(
            Params::parse(map(json!({"prompt": "a", "num_inference_steps": 20, "t_index_list": [10, 30]}))).is_err()
        );
        assert!(Params::parse(map(json!({"prompt": ""}))).is_err());
        assert!(Params::parse(map(json!({"prompt": "x".repeat(MAX_PROMPT_CHARS + 1)}))).is_err());
    }

    #[test]
    fn merging_says_when_a_reload_is_needed() {
        let p = Params::parse(map(json!({"prompt": "a", "width": 512}))).unwrap();
        let (m, reload) = p.merge(&map(json!({"prompt": "b", "seed": 7}))).unwrap();
        assert!(!reload);
        assert_eq!(m.prompt(), "b");
        assert!(p.merge(&map(json!({"width": 768}))).unwrap().1);
        assert!(!p.merge(&map(json!({"width": 512}))).unwrap().1, "an unchanged value needs no reload");
    }

    #[test]
    fn models_round_trip() {
        assert_eq!(ModelId::parse("stabilityai/sdxl-turbo"), Ok(ModelId::SdxlTurbo));
        assert!(ModelId::parse("sd-1.5").is_err());
        assert_eq!(serde_json::to_value(ModelId::Dreamshaper8).unwrap(), json!("Lykon/dreamshaper-8"));
    }
}
