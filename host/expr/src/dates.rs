//! The host side of the expressions' dates: compiling luxon.js when an
//! expression first needs it, and IANA time zones (the offset of a zone at
//! an instant and the names en-US gives it) from the tz database compiled
//! into `chrono-tz`.

use boa_engine::object::FunctionObjectBuilder;
use boa_engine::{Context, JsArgs, JsResult, JsString, JsValue, NativeFunction, Source, js_string};
use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

const LUXON: &str = include_str!("luxon.js");

/// Installs `__luxon` (luxon.js compiled into its factory),
/// `__zoneOffset(name, millis)` (minutes east of UTC, or `NaN` for an
/// unknown zone) and `__zoneName(name, millis, "short" | "long")` (the
/// en-US name, or `undefined` where en-US writes the offset instead). The
/// prelude takes all three and removes them from the global object.
pub(crate) fn install(context: &mut Context) -> JsResult<()> {
    let factory = compile_luxon(context)?;
    context
        .global_object()
        .set(js_string!("__luxon"), factory, true, context)?;
    let functions: [(&str, NativeFunction); 2] = [
        ("__zoneOffset", NativeFunction::from_fn_ptr(zone_offset)),
        ("__zoneName", NativeFunction::from_fn_ptr(zone_name)),
    ];
    for (name, function) in functions {
        let function = FunctionObjectBuilder::new(context.realm(), function)
            .name(JsString::from(name))
            .length(2)
            .build();
        context
            .global_object()
            .set(JsString::from(name), function, true, context)?;
    }
    Ok(())
}

/// Compiles luxon.js into its factory; the prelude calls the factory when
/// an expression first needs a date.
pub(crate) fn compile_luxon(context: &mut Context) -> JsResult<JsValue> {
    context.eval(Source::from_bytes(LUXON))
}

/// The zone and instant the zone functions are called with.
fn zone_at(args: &[JsValue], context: &mut Context) -> JsResult<Option<(Tz, i64)>> {
    let name = args.get_or_undefined(0).to_string(context)?;
    let millis = args.get_or_undefined(1).to_number(context)?;
    if !millis.is_finite() {
        return Ok(None);
    }
    Ok(name
        .to_std_string_lossy()
        .parse::<Tz>()
        .ok()
        .map(|tz| (tz, millis.floor() as i64)))
}

fn zone_offset(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let Some((tz, millis)) = zone_at(args, context)? else {
        return Ok(JsValue::new(f64::NAN));
    };
    let Some(utc) = DateTime::from_timestamp_millis(millis) else {
        return Ok(JsValue::new(f64::NAN));
    };
    let seconds = tz
        .offset_from_utc_datetime(&utc.naive_utc())
        .fix()
        .local_minus_utc();
    Ok(JsValue::new(f64::from(seconds) / 60.0))
}

/// The abbreviations en-US (CLDR) uses; elsewhere it writes `GMT+1`.
const US_ABBREVIATIONS: [&str; 12] = [
    "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "AKST", "AKDT", "HST", "HDT",
];

/// en-US long names by abbreviation, for the zones workflows use most.
const LONG_NAMES: [(&str, &str); 24] = [
    ("EST", "Eastern Standard Time"),
    ("EDT", "Eastern Daylight Time"),
    ("CST", "Central Standard Time"),
    ("CDT", "Central Daylight Time"),
    ("MST", "Mountain Standard Time"),
    ("MDT", "Mountain Daylight Time"),
    ("PST", "Pacific Standard Time"),
    ("PDT", "Pacific Daylight Time"),
    ("AKST", "Alaska Standard Time"),
    ("AKDT", "Alaska Daylight Time"),
    ("HST", "Hawaii-Aleutian Standard Time"),
    ("HDT", "Hawaii-Aleutian Daylight Time"),
    ("CET", "Central European Standard Time"),
    ("CEST", "Central European Summer Time"),
    ("EET", "Eastern European Standard Time"),
    ("EEST", "Eastern European Summer Time"),
    ("WET", "Western European Standard Time"),
    ("WEST", "Western European Summer Time"),
    ("GMT", "Greenwich Mean Time"),
    ("BST", "British Summer Time"),
    ("IST", "India Standard Time"),
    ("JST", "Japan Standard Time"),
    ("AEST", "Australian Eastern Standard Time"),
    ("AEDT", "Australian Eastern Daylight Time"),
];

fn zone_name(_: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let style = args.get_or_undefined(2).to_string(context)?;
    let Some((tz, millis)) = zone_at(args, context)? else {
        return Ok(JsValue::undefined());
    };
    let Some(utc) = DateTime::from_timestamp_millis(millis) else {
        return Ok(JsValue::undefined());
    };
    let offset = tz.offset_from_utc_datetime(&utc.naive_utc());
    let id = offset.tz_id();
    let universal = matches!(
        id,
        "UTC" | "Etc/UTC" | "Etc/UCT" | "Etc/Universal" | "Etc/Zulu" | "UCT" | "Universal" | "Zulu"
    );
    let abbreviation = offset.abbreviation().unwrap_or("");
    let american = id.starts_with("America/") || id.starts_with("US/") || id == "Pacific/Honolulu";
    let name = if style == js_string!("long") {
        if universal {
            Some("Coordinated Universal Time")
        } else {
            LONG_NAMES
                .iter()
                .find(|(abbr, _)| *abbr == abbreviation)
                .filter(|(abbr, _)| american || !US_ABBREVIATIONS.contains(abbr))
                .filter(|(abbr, _)| *abbr != "IST" || id == "Asia/Kolkata" || id == "Asia/Calcutta")
                .filter(|(abbr, _)| *abbr != "GMT" || id.starts_with("Europe/"))
                .map(|(_, long)| *long)
        }
    } else if universal {
        Some("UTC")
    } else if american && US_ABBREVIATIONS.contains(&abbreviation) {
        Some(abbreviation)
    } else {
        None
    };
    Ok(name.map_or(JsValue::undefined(), |n| JsValue::from(JsString::from(n))))
}
