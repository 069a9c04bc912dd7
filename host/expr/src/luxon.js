// Luxon's DateTime and Duration (the API n8n expressions expose, Luxon 3.4
// as n8n 1.119 ships it) and n8n's date extensions. Ported from Luxon (MIT,
// Copyright 2019 JS Foundation and other contributors): the calendar
// arithmetic, `diff`, `shiftTo` and the format tokens follow its source.
// Locale output is en-US as n8n's Node writes it; other locales are refused
// by name rather than answered in English. The default zone is UTC (n8n
// with GENERIC_TIMEZONE=UTC); other zones are fixed offsets (`UTC+2`, a
// number of minutes) or IANA names the host knows.
//
// Compiled on first use (the prelude's `DateTime`, `$now`, `toDateTime()`
// ask for it): most expressions never touch a date, and compiling this
// costs more than the rest of the prelude. It runs after the seal, so it
// freezes everything it hands out itself.
(function (zoneOffsetOf, zoneNameOf, freezer) {
  "use strict";
  const def = (proto, name, fn) =>
    Object.defineProperty(proto, name, { value: fn, writable: false, enumerable: false, configurable: false });

  const padStart = (n, w = 2) => (n < 0 ? "-" + String(-n).padStart(w, "0") : String(n).padStart(w, "0"));
  const roundTo = (n, digits, towardZero = false) => { const f = 10 ** digits; return (towardZero ? Math.trunc : Math.round)(n * f) / f; };
  const floorMod = (x, n) => x - n * Math.floor(x / n);
  const isLeapYear = (y) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const daysInYear = (y) => (isLeapYear(y) ? 366 : 365);
  const daysInMonth = (y, m) => {
    const mm = floorMod(m - 1, 12) + 1, yy = y + (m - mm) / 12;
    return mm === 2 ? (isLeapYear(yy) ? 29 : 28) : [31, null, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mm - 1];
  };
  const objToLocalTS = (o) => {
    let d = Date.UTC(o.year, o.month - 1, o.day, o.hour, o.minute, o.second, o.millisecond);
    if (o.year < 100 && o.year >= 0) { const x = new Date(d); x.setUTCFullYear(o.year, o.month - 1, o.day); d = x.getTime(); }
    return d;
  };
  const tsToObj = (ts, offset) => {
    const d = new Date(ts + offset * 60000);
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(),
      minute: d.getUTCMinutes(), second: d.getUTCSeconds(), millisecond: d.getUTCMilliseconds() };
  };
  const isoWeekday = (y, m, d) => { const w = new Date(Date.UTC(y, m - 1, d)).getUTCDay(); return w === 0 ? 7 : w; };
  const ordinalOf = (y, m, d) => [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][m - 1] + d + (m > 2 && isLeapYear(y) ? 1 : 0);
  const weeksInWeekYear = (y) => {
    const p = (yy) => (yy + Math.floor(yy / 4) - Math.floor(yy / 100) + Math.floor(yy / 400)) % 7;
    return p(y) === 4 || p(y - 1) === 3 ? 53 : 52;
  };
  const toWeek = (c) => {
    const ordinal = ordinalOf(c.year, c.month, c.day), weekday = isoWeekday(c.year, c.month, c.day);
    let weekNumber = Math.floor((ordinal - weekday + 10) / 7), weekYear = c.year;
    if (weekNumber < 1) { weekYear = c.year - 1; weekNumber = weeksInWeekYear(weekYear); }
    else if (weekNumber > weeksInWeekYear(c.year)) { weekYear = c.year + 1; weekNumber = 1; }
    return { weekYear, weekNumber, weekday };
  };

  // Offsets, as Luxon's formatOffset writes them.
  const formatOffset = (offset, format) => {
    const h = Math.trunc(Math.abs(offset / 60)), m = Math.trunc(Math.abs(offset % 60)), sign = offset >= 0 ? "+" : "-";
    if (format === "short") return sign + padStart(h) + ":" + padStart(m);
    if (format === "narrow") return sign + h + (m > 0 ? ":" + m : "");
    return sign + padStart(h) + padStart(m);
  };

  // Zones: fixed offsets, IANA names the host resolves, or invalid.
  class Zone {
    constructor(kind, name, fixed) { this.kind = kind; this.zoneName = name; this.fixed = fixed; Object.freeze(this); }
    get type() { return this.kind === "fixed" ? "fixed" : this.kind === "iana" ? "iana" : "invalid"; }
    get name() { return this.kind === "fixed" ? (this.fixed === 0 ? "UTC" : "UTC" + formatOffset(this.fixed, "narrow")) : this.zoneName; }
    get ianaName() { return this.kind === "fixed" ? (this.fixed === 0 ? "Etc/UTC" : "Etc/GMT" + formatOffset(-this.fixed, "narrow")) : this.zoneName; }
    get isUniversal() { return this.kind === "fixed"; }
    get isValid() { return this.kind !== "invalid"; }
    offset(ts) {
      if (this.kind === "fixed") return this.fixed;
      if (this.kind === "iana") return zoneOffsetOf(this.zoneName, ts);
      return NaN;
    }
    offsetName(ts, opts) {
      if (this.kind === "fixed") return this.name;
      if (this.kind !== "iana") return null;
      const o = this.offset(ts);
      if (opts && opts.format === "long") {
        const long = zoneNameOf(this.zoneName, ts, "long");
        return long || (o === 0 ? "GMT" : "GMT" + formatOffset(o, "short"));
      }
      return zoneNameOf(this.zoneName, ts, "short") || (o === 0 ? "GMT" : "GMT" + formatOffset(o, "narrow"));
    }
    formatOffset(ts, format) { return formatOffset(this.offset(ts), format); }
    equals(other) { return other instanceof Zone && other.kind === this.kind && other.name === this.name; }
  }
  const UTC = new Zone("fixed", null, 0);
  const fixedZone = (minutes) => (minutes === 0 ? UTC : new Zone("fixed", null, minutes));
  const normalizeZone = (input) => {
    if (input === undefined || input === null) return UTC;
    if (input instanceof Zone) return input;
    if (typeof input === "number") return fixedZone(input);
    if (typeof input === "string") {
      const lowered = input.toLowerCase();
      if (lowered === "default" || lowered === "local" || lowered === "system" || lowered === "utc" || lowered === "gmt") return UTC;
      const m = /^utc(?:([+-]\d{1,2})(?::(\d{2}))?)?$/i.exec(input);
      if (m) { const h = parseInt(m[1], 10), mi = parseInt(m[2] || "0", 10); return fixedZone(h * 60 + (h < 0 || m[1][0] === "-" ? -mi : mi)); }
      if (!isNaN(zoneOffsetOf(input, 0))) return new Zone("iana", input, 0);
      return new Zone("invalid", input, 0);
    }
    throw new TypeError("unknown time zone `" + String(input) + "`: give an IANA name such as `Europe/Berlin`, `UTC+2` or a number of minutes");
  };
  const fixOffset = (localTS, o, tz) => {
    let utcGuess = localTS - o * 60000;
    const o2 = tz.offset(utcGuess);
    if (o === o2) return [utcGuess, o];
    utcGuess -= (o2 - o) * 60000;
    const o3 = tz.offset(utcGuess);
    if (o2 === o3) return [utcGuess, o2];
    return [localTS - Math.min(o2, o3) * 60000, Math.max(o2, o3)];
  };
  const objToTS = (obj, offset, zone) => fixOffset(objToLocalTS(obj), offset, zone);

  const checkLocale = (opts, what) => {
    const locale = opts && opts.locale;
    if (locale !== undefined && locale !== null && !/^en(-us)?$/i.test(String(locale)))
      throw new RangeError(what + ": locale `" + locale + "` is not available in expressions; leave it out for en-US");
  };

  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
  const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  const UNITS = ["years", "quarters", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds"];
  const SINGULAR = { year: "years", quarter: "quarters", month: "months", week: "weeks", day: "days", hour: "hours",
    minute: "minutes", second: "seconds", millisecond: "milliseconds" };
  const normalizeDurationUnit = (unit) => {
    const u = unit ? String(unit).toLowerCase() : unit;
    const n = SINGULAR[u] || (UNITS.includes(u) ? u : undefined);
    if (!n) throw new RangeError("Invalid unit " + unit);
    return n;
  };
  const DT_UNITS = { year: "year", years: "year", month: "month", months: "month", day: "day", days: "day", date: "day",
    hour: "hour", hours: "hour", minute: "minute", minutes: "minute", second: "second", seconds: "second",
    millisecond: "millisecond", milliseconds: "millisecond", weekday: "weekday", weekdays: "weekday",
    weeknumber: "weekNumber", weeksnumber: "weekNumber", weeknumbers: "weekNumber", weekyear: "weekYear",
    weekyears: "weekYear", ordinal: "ordinal", quarter: "quarter", quarters: "quarter" };
  const normalizeDateUnit = (unit) => {
    const n = DT_UNITS[String(unit).toLowerCase()];
    if (!n) throw new RangeError("Invalid unit " + unit);
    return n;
  };

  // ---- Duration ----
  const lowOrder = { weeks: { days: 7, hours: 168, minutes: 10080, seconds: 604800, milliseconds: 604800000 },
    days: { hours: 24, minutes: 1440, seconds: 86400, milliseconds: 86400000 },
    hours: { minutes: 60, seconds: 3600, milliseconds: 3600000 }, minutes: { seconds: 60, milliseconds: 60000 },
    seconds: { milliseconds: 1000 } };
  const MATRIX = { years: { quarters: 4, months: 12, weeks: 52, days: 365, hours: 8760, minutes: 525600, seconds: 31536000, milliseconds: 31536000000 },
    quarters: { months: 3, weeks: 13, days: 91, hours: 2184, minutes: 131040, seconds: 7862400, milliseconds: 7862400000 },
    months: { weeks: 4, days: 30, hours: 720, minutes: 43200, seconds: 2592000, milliseconds: 2592000000 }, ...lowOrder };
  const durationToMillis = (vals) => {
    let sum = vals.milliseconds || 0;
    for (const u of UNITS.slice(0, -1)) if (vals[u]) sum += vals[u] * MATRIX[u].milliseconds;
    return sum;
  };
  const normalizeValues = (vals) => {
    const factor = durationToMillis(vals) < 0 ? -1 : 1;
    UNITS.reduceRight((previous, current) => {
      if (vals[current] === undefined) return previous;
      if (previous) {
        const conv = MATRIX[current][previous], rollUp = Math.floor((vals[previous] * factor) / conv);
        vals[current] += rollUp * factor;
        vals[previous] -= rollUp * conv * factor;
      }
      return current;
    }, null);
    UNITS.reduce((previous, current) => {
      if (vals[current] === undefined) return previous;
      if (previous) { const fraction = vals[previous] % 1; vals[previous] -= fraction; vals[current] += fraction * MATRIX[previous][current]; }
      return current;
    }, null);
  };
  const durationFormatNum = (n, w) => padStart(Math.floor(n), w);

  class Duration {
    constructor(values, invalid) { this.values = Object.freeze(values); this.invalid = invalid || null; Object.freeze(this); }
    static fromObject(obj, opts) {
      if (obj === null || typeof obj !== "object") throw new TypeError("Duration.fromObject: argument expected to be an object, got " + (obj === null ? "null" : typeof obj));
      checkLocale(opts, "Duration.fromObject");
      const values = {};
      for (const k of Object.keys(obj)) {
        const v = obj[k];
        if (v === undefined || v === null) continue;
        const n = Number(v);
        if (typeof v === "boolean" || isNaN(n)) throw new TypeError("Invalid unit value " + v);
        values[normalizeDurationUnit(k)] = n;
      }
      return new Duration(values);
    }
    static fromMillis(ms, opts) { return Duration.fromObject({ milliseconds: ms }, opts); }
    static fromISO(text) {
      const m = /^-?P(?:(?:(-?\d{1,20}(?:\.\d{1,20})?)Y)?(?:(-?\d{1,20}(?:\.\d{1,20})?)M)?(?:(-?\d{1,20}(?:\.\d{1,20})?)W)?(?:(-?\d{1,20}(?:\.\d{1,20})?)D)?(?:T(?:(-?\d{1,20}(?:\.\d{1,20})?)H)?(?:(-?\d{1,20}(?:\.\d{1,20})?)M)?(?:(-?\d{1,20})(?:[.,](-?\d{1,20}))?S)?)?)$/.exec(String(text));
      if (!m) return Duration.invalid("unparsable", 'the input "' + text + "\" can't be parsed as ISO 8601");
      const neg = m[0][0] === "-", num = (s) => (s === undefined ? undefined : (neg ? -1 : 1) * Number(s));
      const ms = m[8] === undefined ? undefined : (neg ? -1 : 1) * Math.floor(parseFloat("0." + m[8]) * 1000);
      const vals = { years: num(m[1]), months: num(m[2]), weeks: num(m[3]), days: num(m[4]), hours: num(m[5]), minutes: num(m[6]), seconds: num(m[7]), milliseconds: ms };
      return Duration.fromObject(vals);
    }
    static fromDurationLike(d) {
      if (typeof d === "number") return Duration.fromMillis(d);
      if (Duration.isDuration(d)) return d;
      if (d !== null && typeof d === "object") return Duration.fromObject(d);
      throw new TypeError("Unknown duration argument " + d + " of type " + typeof d);
    }
    static invalid(reason, explanation) { return new Duration({}, { reason, explanation: explanation || null }); }
    static isDuration(o) { return o instanceof Duration; }
    get isValid() { return this.invalid === null; }
    get invalidReason() { return this.invalid ? this.invalid.reason : null; }
    get invalidExplanation() { return this.invalid ? this.invalid.explanation : null; }
    get locale() { return this.isValid ? "en-US" : null; }
    get numberingSystem() { return this.isValid ? "latn" : null; }
    get years() { return this.isValid ? this.values.years || 0 : NaN; }
    get quarters() { return this.isValid ? this.values.quarters || 0 : NaN; }
    get months() { return this.isValid ? this.values.months || 0 : NaN; }
    get weeks() { return this.isValid ? this.values.weeks || 0 : NaN; }
    get days() { return this.isValid ? this.values.days || 0 : NaN; }
    get hours() { return this.isValid ? this.values.hours || 0 : NaN; }
    get minutes() { return this.isValid ? this.values.minutes || 0 : NaN; }
    get seconds() { return this.isValid ? this.values.seconds || 0 : NaN; }
    get milliseconds() { return this.isValid ? this.values.milliseconds || 0 : NaN; }
    get(unit) { return this[normalizeDurationUnit(unit)]; }
    toObject() { return this.isValid ? { ...this.values } : {}; }
    toMillis() { return this.isValid ? durationToMillis(this.values) : NaN; }
    valueOf() { return this.toMillis(); }
    as(unit) { return this.isValid ? this.shiftTo(unit).get(unit) : NaN; }
    plus(d) {
      if (!this.isValid) return this;
      const dur = Duration.fromDurationLike(d), out = {};
      for (const k of UNITS) if (k in dur.values || k in this.values) out[k] = dur.get(k) + this.get(k);
      return new Duration(out);
    }
    minus(d) { return this.isValid ? this.plus(Duration.fromDurationLike(d).negate()) : this; }
    negate() { if (!this.isValid) return this; const out = {}; for (const k of Object.keys(this.values)) out[k] = this.values[k] === 0 ? 0 : -this.values[k]; return new Duration(out); }
    mapUnits(fn) { if (!this.isValid) return this; const out = {}; for (const k of Object.keys(this.values)) out[k] = Number(fn(this.values[k], k)); return new Duration(out); }
    set(values) { if (!this.isValid) return this; return new Duration({ ...this.values, ...Duration.fromObject(values).values }); }
    normalize() { if (!this.isValid) return this; const v = this.toObject(); normalizeValues(v); return new Duration(v); }
    shiftTo(...units) {
      if (!this.isValid || units.length === 0) return this;
      units = units.map(normalizeDurationUnit);
      const built = {}, accumulated = {}, vals = this.toObject();
      let lastUnit;
      for (const k of UNITS) {
        if (units.includes(k)) {
          lastUnit = k;
          let own = 0;
          for (const ak of Object.keys(accumulated)) { own += MATRIX[ak][k] * accumulated[ak]; accumulated[ak] = 0; }
          if (typeof vals[k] === "number") own += vals[k];
          const i = Math.trunc(own);
          built[k] = i;
          accumulated[k] = (own * 1000 - i * 1000) / 1000;
        } else if (typeof vals[k] === "number") accumulated[k] = vals[k];
      }
      for (const key of Object.keys(accumulated))
        if (accumulated[key] !== 0) built[lastUnit] += key === lastUnit ? accumulated[key] : accumulated[key] / MATRIX[lastUnit][key];
      normalizeValues(built);
      return new Duration(built);
    }
    shiftToAll() { return this.shiftTo("years", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds"); }
    rescale() {
      if (!this.isValid) return this;
      const v = this.normalize().shiftToAll().toObject(), out = {};
      for (const k of Object.keys(v)) if (v[k] !== 0) out[k] = v[k];
      return new Duration(out);
    }
    equals(other) {
      if (!this.isValid || !other || !other.isValid) return false;
      for (const u of UNITS) if ((this.values[u] || 0) !== (other.values[u] || 0)) return false;
      return true;
    }
    toISO() {
      if (!this.isValid) return null;
      let s = "P";
      if (this.years !== 0) s += this.years + "Y";
      if (this.months !== 0 || this.quarters !== 0) s += this.months + this.quarters * 3 + "M";
      if (this.weeks !== 0) s += this.weeks + "W";
      if (this.days !== 0) s += this.days + "D";
      if (this.hours !== 0 || this.minutes !== 0 || this.seconds !== 0 || this.milliseconds !== 0) s += "T";
      if (this.hours !== 0) s += this.hours + "H";
      if (this.minutes !== 0) s += this.minutes + "M";
      if (this.seconds !== 0 || this.milliseconds !== 0) s += roundTo(this.seconds + this.milliseconds / 1000, 3) + "S";
      return s === "P" ? "PT0S" : s;
    }
    toJSON() { return this.toISO(); }
    toString() { return this.toISO(); }
    toFormat(fmt, opts) {
      if (!this.isValid) return "Invalid Duration";
      const floor = !opts || (opts.round !== false && opts.floor !== false);
      const FIELD = { S: "milliseconds", s: "seconds", m: "minutes", h: "hours", d: "days", w: "weeks", M: "months", y: "years" };
      const tokens = parseFormat(String(fmt));
      const collapsed = this.shiftTo(...tokens.filter((t) => !t.literal && FIELD[t.val[0]]).map((t) => FIELD[t.val[0]]));
      return tokens.map((t) => {
        if (t.literal || !FIELD[t.val[0]]) return t.val;
        const v = collapsed.get(FIELD[t.val[0]]);
        return floor ? durationFormatNum(v, t.val.length) : padStart(roundTo(v, 3), t.val.length);
      }).join("");
    }
    toHuman(opts) {
      if (!this.isValid) return "Invalid Duration";
      checkLocale(opts, "Duration.toHuman");
      const parts = [];
      for (const u of UNITS) {
        const v = this.values[u];
        if (v === undefined) continue;
        parts.push(groupDigits(roundTo(v, 3)) + " " + (Math.abs(v) === 1 ? u.slice(0, -1) : u));
      }
      return parts.join(", ");
    }
  }
  const groupDigits = (n) => {
    const [int, frac] = String(Math.abs(n)).split(".");
    return (n < 0 ? "-" : "") + int.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (frac ? "." + frac : "");
  };

  // Format strings: Luxon's tokenizer (runs of one letter; quoted literals).
  const parseFormat = (fmt) => {
    let current = null, currentFull = "", bracketed = false;
    const splits = [];
    for (let i = 0; i < fmt.length; i++) {
      const c = fmt.charAt(i);
      if (c === "'") {
        if (currentFull.length > 0) splits.push({ literal: bracketed || /^\s+$/.test(currentFull), val: currentFull });
        current = null; currentFull = ""; bracketed = !bracketed;
      } else if (bracketed) currentFull += c;
      else if (c === current) currentFull += c;
      else {
        if (currentFull.length > 0) splits.push({ literal: /^\s+$/.test(currentFull), val: currentFull });
        currentFull = c; current = c;
      }
    }
    if (currentFull.length > 0) splits.push({ literal: bracketed || /^\s+$/.test(currentFull), val: currentFull });
    return splits;
  };

  // en-US output of Intl.DateTimeFormat for the option sets Luxon's
  // presets and macro tokens use (ICU 7x: "at" joins long dates to times,
  // U+202F precedes AM/PM).
  const n = "numeric", s = "short", l = "long";
  const PRESETS = {
    DATE_SHORT: { year: n, month: n, day: n }, DATE_MED: { year: n, month: s, day: n },
    DATE_MED_WITH_WEEKDAY: { year: n, month: s, day: n, weekday: s }, DATE_FULL: { year: n, month: l, day: n },
    DATE_HUGE: { year: n, month: l, day: n, weekday: l }, TIME_SIMPLE: { hour: n, minute: n },
    TIME_WITH_SECONDS: { hour: n, minute: n, second: n }, TIME_WITH_SHORT_OFFSET: { hour: n, minute: n, second: n, timeZoneName: s },
    TIME_WITH_LONG_OFFSET: { hour: n, minute: n, second: n, timeZoneName: l }, TIME_24_SIMPLE: { hour: n, minute: n, hourCycle: "h23" },
    TIME_24_WITH_SECONDS: { hour: n, minute: n, second: n, hourCycle: "h23" },
    TIME_24_WITH_SHORT_OFFSET: { hour: n, minute: n, second: n, hourCycle: "h23", timeZoneName: s },
    TIME_24_WITH_LONG_OFFSET: { hour: n, minute: n, second: n, hourCycle: "h23", timeZoneName: l },
    DATETIME_SHORT: { year: n, month: n, day: n, hour: n, minute: n },
    DATETIME_SHORT_WITH_SECONDS: { year: n, month: n, day: n, hour: n, minute: n, second: n },
    DATETIME_MED: { year: n, month: s, day: n, hour: n, minute: n },
    DATETIME_MED_WITH_SECONDS: { year: n, month: s, day: n, hour: n, minute: n, second: n },
    DATETIME_MED_WITH_WEEKDAY: { year: n, month: s, day: n, weekday: s, hour: n, minute: n },
    DATETIME_FULL: { year: n, month: l, day: n, hour: n, minute: n, timeZoneName: s },
    DATETIME_FULL_WITH_SECONDS: { year: n, month: l, day: n, hour: n, minute: n, second: n, timeZoneName: s },
    DATETIME_HUGE: { year: n, month: l, day: n, weekday: l, hour: n, minute: n, timeZoneName: l },
    DATETIME_HUGE_WITH_SECONDS: { year: n, month: l, day: n, weekday: l, hour: n, minute: n, second: n, timeZoneName: l },
  };
  for (const k of Object.keys(PRESETS)) Object.freeze(PRESETS[k]);
  const MACROS = { D: "DATE_SHORT", DD: "DATE_MED", DDD: "DATE_FULL", DDDD: "DATE_HUGE", t: "TIME_SIMPLE", tt: "TIME_WITH_SECONDS",
    ttt: "TIME_WITH_SHORT_OFFSET", tttt: "TIME_WITH_LONG_OFFSET", T: "TIME_24_SIMPLE", TT: "TIME_24_WITH_SECONDS",
    TTT: "TIME_24_WITH_SHORT_OFFSET", TTTT: "TIME_24_WITH_LONG_OFFSET", f: "DATETIME_SHORT", ff: "DATETIME_MED",
    fff: "DATETIME_FULL", ffff: "DATETIME_HUGE", F: "DATETIME_SHORT_WITH_SECONDS", FF: "DATETIME_MED_WITH_SECONDS",
    FFF: "DATETIME_FULL_WITH_SECONDS", FFFF: "DATETIME_HUGE_WITH_SECONDS" };
  const KNOWN_OPTIONS = ["year", "month", "day", "weekday", "hour", "minute", "second", "timeZoneName", "hourCycle", "hour12", "era", "timeZone", "locale", "fractionalSecondDigits"];
  const intlFormat = (dt, opts) => {
    for (const k of Object.keys(opts)) if (!KNOWN_OPTIONS.includes(k)) throw new RangeError("toLocaleString: option `" + k + "` is not available in expressions");
    checkLocale(opts, "toLocaleString");
    const c = dt.c, two = (v) => padStart(v, 2);
    const weekday = opts.weekday === "long" ? WEEKDAYS[dt.weekday - 1] : opts.weekday ? WEEKDAYS[dt.weekday - 1].slice(0, opts.weekday === "narrow" ? 1 : 3) : null;
    const year = opts.year === "2-digit" ? two(c.year % 100) : opts.year ? String(c.year) : null;
    const day = opts.day === "2-digit" ? two(c.day) : opts.day ? String(c.day) : null;
    const textMonth = opts.month === "long" || opts.month === "short" || opts.month === "narrow";
    let date = "";
    if (textMonth) {
      const month = opts.month === "long" ? MONTHS[c.month - 1] : opts.month === "short" ? MONTHS[c.month - 1].slice(0, 3) : MONTHS[c.month - 1][0];
      date = month + (day ? " " + day : "") + (year ? (day ? ", " : " ") + year : "");
      if (weekday) date = weekday + ", " + date;
    } else {
      const parts = [];
      if (opts.month) parts.push(opts.month === "2-digit" ? two(c.month) : String(c.month));
      if (day) parts.push(day);
      if (year) parts.push(year);
      date = parts.join("/");
      if (weekday) date = date ? weekday + ", " + date : weekday;
    }
    let time = "";
    if (opts.hour || opts.minute || opts.second) {
      const h24 = opts.hourCycle === "h23" || opts.hourCycle === "h24" || opts.hour12 === false;
      const hour = h24 ? (opts.hour === "2-digit" || opts.minute ? two(c.hour) : String(c.hour)) : String(c.hour % 12 === 0 ? 12 : c.hour % 12);
      const fields = [];
      if (opts.hour) fields.push(opts.hour === "2-digit" && !h24 ? two(Number(hour)) : hour);
      if (opts.minute) fields.push(opts.hour ? two(c.minute) : String(c.minute));
      if (opts.second) fields.push(opts.minute ? two(c.second) : String(c.second));
      time = fields.join(":");
      // Luxon formats a zone with no tz-database name (UTC, UTC+5:30) in
      // UTC part by part, where V8 keeps ICU's U+202F before AM/PM and the
      // zone is named as Luxon names it; other zones are formatted whole,
      // with a plain space.
      const byParts = dt.zone.kind === "fixed" && (dt.o === 0 || dt.o % 60 !== 0 || dt.o > 14 * 60 || dt.o < -12 * 60);
      if (opts.hour && !h24) time += (byParts ? "\u202f" : " ") + (c.hour < 12 ? "AM" : "PM");
      if (opts.timeZoneName) {
        let zone;
        if (byParts) zone = dt.zone.name;
        else if (dt.zone.kind === "fixed") zone = "GMT" + formatOffset(dt.o, opts.timeZoneName === "long" ? "short" : "narrow");
        else zone = dt.zone.offsetName(dt.ts, { format: opts.timeZoneName === "long" ? "long" : "short" });
        time += " " + zone;
      }
    }
    if (date && time) return date + (textMonth && opts.month !== "short" ? " at " : ", ") + time;
    return date || time;
  };
  // ---- DateTime ----
  const INVALID = "Invalid DateTime";
  const parseIsoOffset = (s) => {
    if (s === undefined) return undefined;
    if (s === "Z" || s === "z") return 0;
    const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(s);
    const v = parseInt(m[2], 10) * 60 + parseInt(m[3] || "0", 10);
    return m[1] === "-" ? -v : v;
  };
  const validObj = (o) => {
    if (o.month < 1 || o.month > 12) return "unit out of range";
    if (o.day < 1 || o.day > daysInMonth(o.year, o.month)) return "unit out of range";
    const midnight24 = o.hour === 24 && o.minute === 0 && o.second === 0 && o.millisecond === 0;
    if (o.hour < 0 || (o.hour > 23 && !midnight24) || o.minute < 0 || o.minute > 59 || o.second < 0 || o.second > 59 || o.millisecond < 0 || o.millisecond > 999) return "unit out of range";
    return null;
  };
  const fromParts = (parts, offset, opts, text) => {
    opts = opts || {};
    const zone = normalizeZone(opts.zone);
    if (!zone.isValid) return DateTime.invalid("unsupported zone", 'the zone "' + zone.name + "\" is not supported");
    const bad = validObj(parts);
    if (bad) return DateTime.invalid(bad, "you specified an invalid value in \"" + text + '"');
    if (offset === undefined) {
      const [ts, o] = objToTS(parts, zone.offset(__nowMillis || 0), zone);
      return new DateTime(ts, zone, o);
    }
    const ts = objToLocalTS(parts) - offset * 60000;
    return opts.setZone ? new DateTime(ts, fixedZone(offset)) : new DateTime(ts, zone);
  };
  const ISO_DATE = /^([+-]\d{6}|\d{4})(?:-?(\d{2})(?:-?(\d{2}))?)?$/;
  const ISO_WEEK = /^(\d{4})-?W(\d{2})(?:-?(\d))?$/;
  const ISO_ORDINAL = /^(\d{4})-?(\d{3})$/;
  const ISO_TIME = /^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d{1,30}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?(?:\[([^\]]+)\])?$/;
  const parseISO = (text) => {
    const [datePart, timePart] = text.split(/T/i).length === 2 ? text.split(/T/i) : [text, undefined];
    const out = { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0, millisecond: 0 };
    let m;
    if ((m = ISO_DATE.exec(datePart))) {
      out.year = parseInt(m[1], 10); out.month = m[2] ? parseInt(m[2], 10) : 1; out.day = m[3] ? parseInt(m[3], 10) : 1;
    } else if ((m = ISO_WEEK.exec(datePart))) {
      const wy = parseInt(m[1], 10), wn = parseInt(m[2], 10), wd = m[3] ? parseInt(m[3], 10) : 1;
      const jan4 = isoWeekday(wy, 1, 4), ordinal = wn * 7 + wd - (jan4 + 3);
      const d = new Date(Date.UTC(wy, 0, 1) + (ordinal - 1) * 864e5);
      out.year = d.getUTCFullYear(); out.month = d.getUTCMonth() + 1; out.day = d.getUTCDate();
    } else if ((m = ISO_ORDINAL.exec(datePart))) {
      const d = new Date(Date.UTC(parseInt(m[1], 10), 0, 1) + (parseInt(m[2], 10) - 1) * 864e5);
      out.year = d.getUTCFullYear(); out.month = d.getUTCMonth() + 1; out.day = d.getUTCDate();
    } else if (timePart === undefined && (m = ISO_TIME.exec(datePart)) && datePart.includes(":")) {
      const now = tsToObj(__nowMillis || 0, 0);
      return parseISOTime(m, { ...out, year: now.year, month: now.month, day: now.day });
    } else return null;
    if (timePart === undefined) return { parts: out, offset: undefined };
    m = ISO_TIME.exec(timePart);
    return m ? parseISOTime(m, out) : null;
  };
  const parseISOTime = (m, out) => {
    out.hour = parseInt(m[1], 10); out.minute = m[2] ? parseInt(m[2], 10) : 0; out.second = m[3] ? parseInt(m[3], 10) : 0;
    out.millisecond = m[4] ? Math.floor(parseFloat("0." + m[4]) * 1000) : 0;
    return { parts: out, offset: parseIsoOffset(m[5]), zone: m[6] };
  };
  const MONTH_SHORT = MONTHS.map((x) => x.slice(0, 3));
  const parseRFC2822 = (text) => {
    const m = /^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun),\s)?(\d{1,2})\s(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s(\d{2,4})\s(\d{2}):(\d{2})(?::(\d{2}))?\s(?:(UT|GMT|[ECMP][SD]T)|([Zz])|(?:([+-]\d\d)(\d\d)))$/.exec(
      text.replace(/\([^()]*\)|[\n\t]/g, " ").replace(/(\s\s+)/g, " ").trim());
    if (!m) return null;
    let year = parseInt(m[4], 10);
    if (m[4].length === 2) year = year > 60 ? 1900 + year : 2000 + year;
    const named = { UT: 0, GMT: 0, EDT: -240, EST: -300, CDT: -300, CST: -360, MDT: -360, MST: -420, PDT: -420, PST: -480 };
    const offset = m[8] ? named[m[8]] : m[9] ? 0 : (m[10][0] === "-" ? -1 : 1) * (Math.abs(parseInt(m[10], 10)) * 60 + parseInt(m[11], 10));
    return { parts: { year, month: MONTH_SHORT.indexOf(m[3]) + 1, day: parseInt(m[2], 10), hour: parseInt(m[5], 10),
      minute: parseInt(m[6], 10), second: m[7] ? parseInt(m[7], 10) : 0, millisecond: 0 }, offset };
  };
  const parseHTTP = (text) => {
    const m = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/.exec(text);
    if (!m) return null;
    return { parts: { year: parseInt(m[3], 10), month: MONTH_SHORT.indexOf(m[2]) + 1, day: parseInt(m[1], 10), hour: parseInt(m[4], 10),
      minute: parseInt(m[5], 10), second: parseInt(m[6], 10), millisecond: 0 }, offset: 0 };
  };
  const parseSQL = (text) => {
    const m = /^(\d{4})-(\d\d)-(\d\d)(?: (\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?(?: ?(Z|[+-]\d\d(?::?\d\d)?))?)?$/.exec(text) ||
      /^()()()(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?(?: ?(Z|[+-]\d\d(?::?\d\d)?))?$/.exec(text);
    if (!m) return null;
    const now = tsToObj(__nowMillis || 0, 0);
    return { parts: { year: m[1] ? parseInt(m[1], 10) : now.year, month: m[2] ? parseInt(m[2], 10) : now.month, day: m[3] ? parseInt(m[3], 10) : now.day,
      hour: m[4] ? parseInt(m[4], 10) : 0, minute: m[5] ? parseInt(m[5], 10) : 0, second: m[6] ? parseInt(m[6], 10) : 0,
      millisecond: m[7] ? Math.floor(parseFloat("0." + m[7]) * 1000) : 0 }, offset: parseIsoOffset(m[8]) };
  };
  const fromParsed = (parsed, opts, text, format) => {
    if (!parsed) return DateTime.invalid("unparsable", 'the input "' + text + "\" can't be parsed as " + format);
    if (parsed.zone !== undefined) {
      const zone = normalizeZone(parsed.zone);
      if (!zone.isValid) return DateTime.invalid("unsupported zone", 'the zone "' + parsed.zone + "\" is not supported");
      const dt = fromParts(parsed.parts, parsed.offset, { zone: parsed.offset === undefined ? zone : undefined }, text);
      return opts && opts.setZone ? dt.setZone(zone) : dt.setZone(normalizeZone(opts && opts.zone));
    }
    return fromParts(parsed.parts, parsed.offset, opts, text);
  };

  // fromFormat: each token becomes a pattern; the parts it captures build the date.
  const FORMAT_TOKENS = {
    yyyy: ["(\\d{4})", "year"], yy: ["(\\d{2})", "year2"], y: ["(\\d{1,6})", "year"], yyyyyy: ["(\\d{6})", "year"],
    MMMM: ["(" + MONTHS.join("|") + ")", "monthLong"], MMM: ["(" + MONTH_SHORT.join("|") + ")", "monthShort"],
    LLLL: ["(" + MONTHS.join("|") + ")", "monthLong"], LLL: ["(" + MONTH_SHORT.join("|") + ")", "monthShort"],
    MM: ["(\\d{2})", "month"], M: ["(\\d{1,2})", "month"], LL: ["(\\d{2})", "month"], L: ["(\\d{1,2})", "month"],
    dd: ["(\\d{2})", "day"], d: ["(\\d{1,2})", "day"], HH: ["(\\d{2})", "hour"], H: ["(\\d{1,2})", "hour"],
    hh: ["(\\d{2})", "hour12"], h: ["(\\d{1,2})", "hour12"], mm: ["(\\d{2})", "minute"], m: ["(\\d{1,2})", "minute"],
    ss: ["(\\d{2})", "second"], s: ["(\\d{1,2})", "second"], SSS: ["(\\d{3})", "millisecond"], S: ["(\\d{1,3})", "millisecond"],
    u: ["(\\d{1,9})", "fraction"], a: ["(AM|PM)", "meridiem"], EEEE: ["(" + WEEKDAYS.join("|") + ")", "ignore"],
    EEE: ["(" + WEEKDAYS.map((w) => w.slice(0, 3)).join("|") + ")", "ignore"], cccc: ["(" + WEEKDAYS.join("|") + ")", "ignore"],
    ccc: ["(" + WEEKDAYS.map((w) => w.slice(0, 3)).join("|") + ")", "ignore"], ZZ: ["(Z|[+-]\\d{2}:\\d{2})", "offset"],
    ZZZ: ["(Z|[+-]\\d{4})", "offset"], Z: ["(Z|[+-]\\d{1,2}(?::\\d{2})?)", "offset"], X: ["(-?\\d{1,12})", "seconds"],
    x: ["(-?\\d{1,15})", "millis"], o: ["(\\d{1,3})", "ordinal"], ooo: ["(\\d{3})", "ordinal"], q: ["(\\d)", "quarter"],
  };
  const escapeRegex = (t) => t.replace(/[-[\]{}()*+?.,\\^$|#\s]/g, "\\$&");
  const parseFromFormat = (text, fmt) => {
    const fields = [];
    let pattern = "";
    for (const t of parseFormat(String(fmt))) {
      const known = !t.literal && FORMAT_TOKENS[t.val];
      if (known) { pattern += known[0]; fields.push(known[1]); } else pattern += escapeRegex(t.val);
    }
    const m = new RegExp("^" + pattern + "$", "i").exec(String(text));
    if (!m) return null;
    const now = tsToObj(__nowMillis || 0, 0);
    const p = { year: now.year, month: 1, day: 1, hour: 0, minute: 0, second: 0, millisecond: 0 };
    let offset, meridiem, direct, sawYear = false;
    const title = (v) => v.charAt(0).toUpperCase() + v.slice(1).toLowerCase();
    fields.forEach((f, i) => {
      const v = m[i + 1], num = parseInt(v, 10);
      switch (f) {
        case "year": p.year = num; sawYear = true; break;
        case "year2": p.year = num > 60 ? 1900 + num : 2000 + num; sawYear = true; break;
        case "monthLong": p.month = MONTHS.indexOf(title(v)) + 1; break;
        case "monthShort": p.month = MONTH_SHORT.indexOf(title(v)) + 1; break;
        case "hour12": p.hour = num; meridiem = meridiem || "12h"; break;
        case "meridiem": meridiem = v.toUpperCase(); break;
        case "fraction": p.millisecond = Math.floor(parseFloat("0." + v) * 1000); break;
        case "offset": offset = v === "Z" ? 0 : (v[0] === "-" ? -1 : 1) * (parseInt(v.slice(1, 3), 10) * 60 + parseInt(v.replace(":", "").slice(3, 5) || "0", 10)); break;
        case "seconds": direct = num * 1000; break;
        case "millis": direct = num; break;
        case "ordinal": { const d = new Date(Date.UTC(p.year, 0, num)); p.month = d.getUTCMonth() + 1; p.day = d.getUTCDate(); break; }
        case "quarter": p.month = (num - 1) * 3 + 1; break;
        case "ignore": break;
        default: p[f] = num;
      }
    });
    if (meridiem === "PM" && p.hour !== 12) p.hour += 12;
    else if (meridiem === "AM" && p.hour === 12) p.hour = 0;
    if (!sawYear && fields.length === 0) return null;
    return { parts: p, offset, direct };
  };

  class DateTime {
    constructor(ts, zone, o, invalid) {
      this.ts = ts;
      this.zone = zone || UTC;
      this.invalid = invalid || null;
      this.o = invalid ? NaN : o === undefined ? this.zone.offset(ts) : o;
      this.c = invalid ? null : Object.freeze(tsToObj(ts, this.o));
      Object.freeze(this);
    }
    static invalid(reason, explanation) { return new DateTime(NaN, UTC, NaN, { reason, explanation: explanation || null }); }
    static isDateTime(o) { return o instanceof DateTime; }
    static now() { return new DateTime(__nowMillis, UTC); }
    static local(...args) { return DateTime.fromArgs(args, UTC); }
    static utc(...args) { return DateTime.fromArgs(args, UTC); }
    static fromArgs(args, zone) {
      let opts = {};
      if (args.length && typeof args[args.length - 1] === "object" && args[args.length - 1] !== null) opts = args.pop();
      if (args.length === 0) return DateTime.now().setZone(opts.zone || zone);
      const [year, month = 1, day = 1, hour = 0, minute = 0, second = 0, millisecond = 0] = args;
      return DateTime.fromObject({ year, month, day, hour, minute, second, millisecond }, { zone, ...opts });
    }
    static fromMillis(ms, opts) {
      if (typeof ms !== "number") throw new TypeError("fromMillis requires a numerical input, but received a " + typeof ms + " with value " + ms);
      if (ms < -8.64e15 || ms > 8.64e15) return DateTime.invalid("Timestamp out of range");
      checkLocale(opts, "DateTime.fromMillis");
      const zone = normalizeZone(opts && opts.zone);
      return zone.isValid ? new DateTime(ms, zone) : DateTime.invalid("unsupported zone");
    }
    static fromSeconds(s, opts) {
      if (typeof s !== "number") throw new TypeError("fromSeconds requires a numerical input");
      return DateTime.fromMillis(s * 1000, opts);
    }
    static fromJSDate(d, opts) {
      const ts = Object.prototype.toString.call(d) === "[object Date]" ? d.valueOf() : NaN;
      if (isNaN(ts)) return DateTime.invalid("invalid input");
      return DateTime.fromMillis(ts, opts);
    }
    static fromObject(obj, opts) {
      obj = obj || {};
      opts = opts || {};
      checkLocale(opts, "DateTime.fromObject");
      const zone = normalizeZone(opts.zone);
      if (!zone.isValid) return DateTime.invalid("unsupported zone", 'the zone "' + zone.name + "\" is not supported");
      const norm = {};
      for (const k of Object.keys(obj)) if (obj[k] !== undefined) norm[normalizeDateUnit(k)] = obj[k];
      const now = new DateTime(__nowMillis || 0, zone).c;
      const order = ["year", "month", "day", "hour", "minute", "second", "millisecond"];
      const defaults = { year: now.year, month: 1, day: 1, hour: 0, minute: 0, second: 0, millisecond: 0 };
      const parts = {};
      let seen = false;
      for (const u of order) {
        if (norm[u] !== undefined) { seen = true; parts[u] = Number(norm[u]); }
        else parts[u] = seen ? defaults[u] : now[u];
      }
      if (norm.ordinal !== undefined) {
        const d = new Date(Date.UTC(parts.year, 0, Number(norm.ordinal)));
        parts.month = d.getUTCMonth() + 1; parts.day = d.getUTCDate();
      }
      if (norm.year === undefined && norm.month === undefined && norm.day === undefined && norm.ordinal === undefined && norm.hour !== undefined) {
        parts.year = now.year; parts.month = now.month; parts.day = now.day;
      }
      for (const u of order) if (!Number.isInteger(parts[u])) return DateTime.invalid("unit out of range", "you specified " + parts[u] + " (of type " + typeof parts[u] + ") as a " + u + ", which is invalid");
      const bad = validObj(parts);
      if (bad) return DateTime.invalid(bad);
      const [ts, o] = objToTS(parts, zone.offset(__nowMillis || 0), zone);
      return new DateTime(ts, zone, o);
    }
    static fromISO(text, opts) { return fromParsed(parseISO(String(text)), opts, text, "ISO 8601"); }
    static fromRFC2822(text, opts) { return fromParsed(parseRFC2822(String(text)), opts, text, "RFC 2822"); }
    static fromHTTP(text, opts) { return fromParsed(parseHTTP(String(text)), opts, text, "HTTP"); }
    static fromSQL(text, opts) { return fromParsed(parseSQL(String(text)), opts, text, "SQL"); }
    static fromFormat(text, fmt, opts) {
      checkLocale(opts, "DateTime.fromFormat");
      const parsed = parseFromFormat(text, fmt);
      if (!parsed) return DateTime.invalid("unparsable", 'the input "' + text + "\" can't be parsed as format " + fmt);
      if (parsed.direct !== undefined) return DateTime.fromMillis(parsed.direct, opts);
      return fromParts(parsed.parts, parsed.offset, opts, text);
    }
    static fromString(text, fmt, opts) { return DateTime.fromFormat(text, fmt, opts); }
    static max(...dts) { return dts.length ? dts.reduce((a, b) => (b.valueOf() > a.valueOf() ? b : a)) : undefined; }
    static min(...dts) { return dts.length ? dts.reduce((a, b) => (b.valueOf() < a.valueOf() ? b : a)) : undefined; }

    get isValid() { return this.invalid === null; }
    get invalidReason() { return this.invalid ? this.invalid.reason : null; }
    get invalidExplanation() { return this.invalid ? this.invalid.explanation : null; }
    get locale() { return this.isValid ? "en-US" : null; }
    get numberingSystem() { return this.isValid ? "latn" : null; }
    get outputCalendar() { return this.isValid ? "gregory" : null; }
    get zoneName() { return this.isValid ? this.zone.name : null; }
    get year() { return this.isValid ? this.c.year : NaN; }
    get quarter() { return this.isValid ? Math.ceil(this.c.month / 3) : NaN; }
    get month() { return this.isValid ? this.c.month : NaN; }
    get day() { return this.isValid ? this.c.day : NaN; }
    get hour() { return this.isValid ? this.c.hour : NaN; }
    get minute() { return this.isValid ? this.c.minute : NaN; }
    get second() { return this.isValid ? this.c.second : NaN; }
    get millisecond() { return this.isValid ? this.c.millisecond : NaN; }
    get weekYear() { return this.isValid ? toWeek(this.c).weekYear : NaN; }
    get weekNumber() { return this.isValid ? toWeek(this.c).weekNumber : NaN; }
    get weekday() { return this.isValid ? isoWeekday(this.c.year, this.c.month, this.c.day) : NaN; }
    get ordinal() { return this.isValid ? ordinalOf(this.c.year, this.c.month, this.c.day) : NaN; }
    get monthShort() { return this.isValid ? MONTH_SHORT[this.c.month - 1] : null; }
    get monthLong() { return this.isValid ? MONTHS[this.c.month - 1] : null; }
    get weekdayShort() { return this.isValid ? WEEKDAYS[this.weekday - 1].slice(0, 3) : null; }
    get weekdayLong() { return this.isValid ? WEEKDAYS[this.weekday - 1] : null; }
    get offset() { return this.isValid ? +this.o : NaN; }
    get offsetNameShort() { return this.isValid ? this.zone.offsetName(this.ts, { format: "short" }) : null; }
    get offsetNameLong() { return this.isValid ? (this.zone.kind === "fixed" ? this.zone.name : this.zone.offsetName(this.ts, { format: "long" })) : null; }
    get isOffsetFixed() { return this.isValid ? this.zone.isUniversal : null; }
    get isInDST() {
      if (this.isOffsetFixed) return false;
      return this.offset > this.set({ month: 1, day: 1 }).offset || this.offset > this.set({ month: 5 }).offset;
    }
    get isInLeapYear() { return isLeapYear(this.year); }
    get daysInMonth() { return daysInMonth(this.year, this.month); }
    get daysInYear() { return this.isValid ? daysInYear(this.year) : NaN; }
    get weeksInWeekYear() { return this.isValid ? weeksInWeekYear(this.weekYear) : NaN; }
    get(unit) { return this[normalizeDateUnit(unit)]; }

    setZone(zone, opts) {
      zone = normalizeZone(zone);
      if (!this.isValid) return this;
      if (zone.equals(this.zone)) return this;
      if (!zone.isValid) return DateTime.invalid("unsupported zone", 'the zone "' + zone.name + "\" is not supported");
      let ts = this.ts;
      if (opts && (opts.keepLocalTime || opts.keepCalendarTime)) [ts] = objToTS(this.c, zone.offset(this.ts), zone);
      return new DateTime(ts, zone);
    }
    toUTC(offset = 0, opts) { return this.setZone(fixedZone(offset), opts); }
    toLocal() { return this.setZone(UTC); }
    setLocale(locale) { checkLocale({ locale }, "setLocale"); return this; }
    reconfigure(opts) { checkLocale(opts, "reconfigure"); return this; }
    set(values) {
      if (!this.isValid) return this;
      const norm = {};
      for (const k of Object.keys(values)) norm[normalizeDateUnit(k)] = values[k];
      let mixed;
      if (norm.weekYear !== undefined || norm.weekNumber !== undefined || norm.weekday !== undefined) {
        const w = toWeek(this.c), wy = norm.weekYear !== undefined ? norm.weekYear : w.weekYear;
        const wn = norm.weekNumber !== undefined ? norm.weekNumber : w.weekNumber, wd = norm.weekday !== undefined ? norm.weekday : w.weekday;
        const jan4 = isoWeekday(wy, 1, 4), d = new Date(Date.UTC(wy, 0, 1) + (wn * 7 + wd - (jan4 + 3) - 1) * 864e5);
        mixed = { ...this.c, year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
        for (const u of ["hour", "minute", "second", "millisecond"]) if (norm[u] !== undefined) mixed[u] = norm[u];
      } else if (norm.ordinal !== undefined) {
        const d = new Date(Date.UTC(norm.year !== undefined ? norm.year : this.c.year, 0, norm.ordinal));
        mixed = { ...this.c, ...norm, year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
        delete mixed.ordinal;
      } else {
        mixed = { ...this.c, ...norm };
        if (norm.day === undefined) mixed.day = Math.min(daysInMonth(mixed.year, mixed.month), mixed.day);
      }
      if (norm.quarter !== undefined) { mixed.month = (norm.quarter - 1) * 3 + 1; delete mixed.quarter; }
      const [ts, o] = objToTS(mixed, this.o, this.zone);
      return new DateTime(ts, this.zone, o);
    }
    plus(duration) {
      if (!this.isValid) return this;
      const dur = Duration.fromDurationLike(duration);
      const y = Math.trunc(dur.years), mo = this.c.month + Math.trunc(dur.months) + Math.trunc(dur.quarters) * 3, yr = this.c.year + y;
      const c = { ...this.c, year: yr, month: mo, day: Math.min(this.c.day, daysInMonth(yr, mo)) + Math.trunc(dur.days) + Math.trunc(dur.weeks) * 7 };
      const extra = Duration.fromObject({ years: dur.years - y, quarters: dur.quarters - Math.trunc(dur.quarters),
        months: dur.months - Math.trunc(dur.months), weeks: dur.weeks - Math.trunc(dur.weeks), days: dur.days - Math.trunc(dur.days),
        hours: dur.hours, minutes: dur.minutes, seconds: dur.seconds, milliseconds: dur.milliseconds }).as("milliseconds");
      let [ts, o] = fixOffset(objToLocalTS(c), this.o, this.zone);
      if (extra !== 0) { ts += extra; o = this.zone.offset(ts); }
      return new DateTime(ts, this.zone, o);
    }
    minus(duration) { return this.isValid ? this.plus(Duration.fromDurationLike(duration).negate()) : this; }
    startOf(unit) {
      if (!this.isValid) return this;
      const u = normalizeDurationUnit(unit), o = {};
      switch (u) {
        case "years": o.month = 1; // falls through
        case "quarters": case "months": o.day = 1; // falls through
        case "weeks": case "days": o.hour = 0; // falls through
        case "hours": o.minute = 0; // falls through
        case "minutes": o.second = 0; // falls through
        case "seconds": o.millisecond = 0; break;
        default: break;
      }
      if (u === "weeks") o.weekday = 1;
      if (u === "quarters") o.month = (this.quarter - 1) * 3 + 1;
      return this.set(o);
    }
    endOf(unit) { return this.isValid ? this.plus({ [unit]: 1 }).startOf(unit).minus(1) : this; }
    diff(other, unit = "milliseconds", opts) {
      if (!this.isValid || !other || !other.isValid) return Duration.invalid("created by diffing an invalid DateTime");
      checkLocale(opts, "diff");
      const units = (Array.isArray(unit) ? unit : [unit]).map(normalizeDurationUnit);
      const otherIsLater = other.valueOf() > this.valueOf();
      const earlier = otherIsLater ? this : other, later = otherIsLater ? other : this;
      const diffed = diffUnits(earlier, later, units);
      return otherIsLater ? diffed.negate() : diffed;
    }
    diffNow(unit, opts) { return this.diff(DateTime.now(), unit, opts); }
    hasSame(other, unit) {
      if (!this.isValid) return false;
      const ms = other.valueOf(), adjusted = this.setZone(other.zone, { keepLocalTime: true });
      return adjusted.startOf(unit) <= ms && ms <= adjusted.endOf(unit);
    }
    equals(other) { return this.isValid && other instanceof DateTime && other.isValid && this.valueOf() === other.valueOf() && this.zone.equals(other.zone); }
    toRelative(options) {
      if (!this.isValid) return null;
      options = options || {};
      checkLocale(options, "toRelative");
      const base = options.base || DateTime.now().setZone(this.zone);
      const units = Array.isArray(options.unit) ? options.unit : ["years", "months", "days", "hours", "minutes", "seconds"];
      const round = options.round === undefined ? true : options.round;
      const format = (count, u) => {
        count = roundTo(count, round ? 0 : 2, true);
        const single = u.replace(/s$/, ""), abs = Math.abs(count), name = abs === 1 ? single : single + "s";
        if (options.style === "short" || options.style === "narrow") {
          const short = { year: "yr.", month: "mo.", week: "wk.", day: abs === 1 ? "day" : "days", hour: "hr.", minute: "min.", second: "sec.", quarter: abs === 1 ? "qtr." : "qtrs." }[single];
          return count < 0 || Object.is(count, -0) ? abs + " " + short + " ago" : "in " + abs + " " + short;
        }
        return count < 0 || Object.is(count, -0) ? abs + " " + name + " ago" : "in " + abs + " " + name;
      };
      const end = this.plus(options.padding ? (this < base ? -options.padding : options.padding) : 0);
      if (options.unit && !Array.isArray(options.unit)) return format(end.diff(base, options.unit).get(options.unit), normalizeDurationUnit(options.unit));
      for (const u of units) {
        const count = end.diff(base, u).get(u);
        if (Math.abs(count) >= 1) return format(count, normalizeDurationUnit(u));
      }
      return format(base > end ? -0 : 0, normalizeDurationUnit(units[units.length - 1]));
    }
    toRelativeCalendar(options) {
      if (!this.isValid) return null;
      options = options || {};
      const base = options.base || DateTime.now().setZone(this.zone);
      const units = options.unit ? [options.unit] : ["years", "months", "days"];
      for (const u of units) {
        const nu = normalizeDurationUnit(u);
        const count = this.hasSame(base, nu.slice(0, -1)) ? 0 : this.startOf(nu).diff(base.startOf(nu), nu).get(nu);
        if (Math.abs(count) >= 1 || u === units[units.length - 1]) {
          const single = nu.slice(0, -1);
          if (count === 0) return single === "day" ? "today" : "this " + single;
          if (count === 1) return single === "day" ? "tomorrow" : "next " + single;
          if (count === -1) return single === "day" ? "yesterday" : "last " + single;
          return count < 0 ? Math.abs(count) + " " + nu + " ago" : "in " + count + " " + nu;
        }
      }
      return null;
    }

    toISODate(opts) {
      if (!this.isValid) return null;
      const ext = !opts || opts.format !== "basic", y = this.c.year, long = y > 9999 || y < 0;
      return (long && y >= 0 ? "+" : "") + padStart(y, long ? 6 : 4) + (ext ? "-" : "") + padStart(this.c.month) + (ext ? "-" : "") + padStart(this.c.day);
    }
    toISOWeekDate() { if (!this.isValid) return null; const w = toWeek(this.c); return padStart(w.weekYear, 4) + "-W" + padStart(w.weekNumber) + "-" + w.weekday; }
    toISOTime(opts) {
      if (!this.isValid) return null;
      opts = opts || {};
      const ext = opts.format !== "basic", includeOffset = opts.includeOffset !== false;
      const c = this.c, secs = !opts.suppressSeconds || c.second !== 0 || c.millisecond !== 0;
      let out = padStart(c.hour) + (ext ? ":" : "") + padStart(c.minute);
      if (secs) {
        out += (ext ? ":" : "") + padStart(c.second);
        if (!opts.suppressMilliseconds || c.millisecond !== 0) out += "." + padStart(c.millisecond, 3);
      }
      if (opts.includePrefix) out = "T" + out;
      if (includeOffset) {
        if (this.isOffsetFixed && this.o === 0 && !opts.extendedZone) out += "Z";
        else out += (this.o < 0 ? "-" : "+") + padStart(Math.trunc(Math.abs(this.o) / 60)) + (ext ? ":" : "") + padStart(Math.trunc(Math.abs(this.o) % 60));
      }
      if (opts.extendedZone) out += "[" + this.zone.ianaName + "]";
      return out;
    }
    toISO(opts) {
      if (!this.isValid) return null;
      return this.toISODate(opts) + "T" + this.toISOTime({ ...(opts || {}), includePrefix: false });
    }
    toRFC2822() { return this.isValid ? this.toFormat("EEE, dd LLL yyyy HH:mm:ss ZZZ") : null; }
    toHTTP() { return this.isValid ? this.toUTC().toFormat("EEE, dd LLL yyyy HH:mm:ss 'GMT'") : null; }
    toSQLDate() { return this.toISODate(); }
    toSQLTime(opts) {
      if (!this.isValid) return null;
      opts = opts || {};
      let fmt = "HH:mm:ss.SSS";
      if (opts.includeZone || opts.includeOffset !== false) {
        if (opts.includeOffsetSpace !== false) fmt += " ";
        fmt += opts.includeZone ? "z" : "ZZ";
      }
      return this.toFormat(fmt, { allowZ: true });
    }
    toSQL(opts) { return this.isValid ? this.toSQLDate() + " " + this.toSQLTime(opts) : null; }
    toMillis() { return this.isValid ? this.ts : NaN; }
    toSeconds() { return this.isValid ? this.ts / 1000 : NaN; }
    toUnixInteger() { return this.isValid ? Math.floor(this.ts / 1000) : NaN; }
    toJSDate() { return new Date(this.isValid ? this.ts : NaN); }
    toObject(opts) {
      if (!this.isValid) return {};
      const o = { ...this.c };
      if (opts && opts.includeConfig) { o.outputCalendar = "gregory"; o.numberingSystem = "latn"; o.locale = "en-US"; }
      return o;
    }
    toJSON() { return this.toISO(); }
    toString() { return this.isValid ? this.toISO() : INVALID; }
    valueOf() { return this.toMillis(); }
    toLocaleString(formatOpts, opts) {
      if (!this.isValid) return INVALID;
      checkLocale(opts, "toLocaleString");
      return intlFormat(this, formatOpts || PRESETS.DATE_SHORT);
    }
    toLocaleParts() { throw new TypeError("toLocaleParts() is not available in expressions; use toFormat()"); }
    toFormat(fmt, opts) {
      if (!this.isValid) return INVALID;
      checkLocale(opts, "toFormat");
      const c = this.c;
      const num = (v, w) => padStart(v, w || 1);
      const offsetText = (format) => (this.isOffsetFixed && this.o === 0 && opts && opts.allowZ ? "Z" : this.zone.formatOffset(this.ts, format));
      const token = (t) => {
        switch (t) {
          case "S": return num(c.millisecond);
          case "u": case "SSS": return num(c.millisecond, 3);
          case "s": return num(c.second);
          case "ss": return num(c.second, 2);
          case "uu": return num(Math.floor(c.millisecond / 10), 2);
          case "uuu": return num(Math.floor(c.millisecond / 100));
          case "m": return num(c.minute);
          case "mm": return num(c.minute, 2);
          case "h": return num(c.hour % 12 === 0 ? 12 : c.hour % 12);
          case "hh": return num(c.hour % 12 === 0 ? 12 : c.hour % 12, 2);
          case "H": return num(c.hour);
          case "HH": return num(c.hour, 2);
          case "Z": return offsetText("narrow");
          case "ZZ": return offsetText("short");
          case "ZZZ": return offsetText("techie");
          case "ZZZZ": return this.zone.offsetName(this.ts, { format: "short" });
          case "ZZZZZ": return this.zone.offsetName(this.ts, { format: "long" });
          case "z": return this.zoneName;
          case "a": return c.hour < 12 ? "AM" : "PM";
          case "d": return num(c.day);
          case "dd": return num(c.day, 2);
          case "c": case "E": return num(this.weekday);
          case "ccc": case "EEE": return this.weekdayShort;
          case "cccc": case "EEEE": return this.weekdayLong;
          case "ccccc": case "EEEEE": return this.weekdayLong[0];
          case "L": case "M": return num(c.month);
          case "LL": case "MM": return num(c.month, 2);
          case "LLL": case "MMM": return this.monthShort;
          case "LLLL": case "MMMM": return this.monthLong;
          case "LLLLL": case "MMMMM": return this.monthLong[0];
          case "y": return num(c.year);
          case "yy": return num(Number(c.year.toString().slice(-2)), 2);
          case "yyyy": return num(c.year, 4);
          case "yyyyyy": return num(c.year, 6);
          case "G": return c.year > 0 ? "AD" : "BC";
          case "GG": return c.year > 0 ? "Anno Domini" : "Before Christ";
          case "GGGGG": return c.year > 0 ? "A" : "B";
          case "kk": return num(Number(this.weekYear.toString().slice(-2)), 2);
          case "kkkk": return num(this.weekYear, 4);
          case "W": return num(this.weekNumber);
          case "WW": return num(this.weekNumber, 2);
          case "o": return num(this.ordinal);
          case "ooo": return num(this.ordinal, 3);
          case "q": return num(this.quarter);
          case "qq": return num(this.quarter, 2);
          case "X": return num(Math.floor(this.ts / 1000));
          case "x": return num(this.ts);
          default: return MACROS[t] ? intlFormat(this, PRESETS[MACROS[t]]) : t;
        }
      };
      return parseFormat(String(fmt)).map((t) => (t.literal ? t.val : token(t.val))).join("");
    }
  }
  for (const k of Object.keys(PRESETS)) Object.defineProperty(DateTime, k, { value: PRESETS[k], enumerable: true });

  // Luxon's diff: calendar units by stepping the earlier date, the rest in milliseconds.
  const dayDiff = (a, b) => {
    const start = (dt) => dt.toUTC(0, { keepLocalTime: true }).startOf("day").valueOf();
    return Math.floor(Duration.fromMillis(start(b) - start(a)).as("days"));
  };
  const diffUnits = (earlier, later, units) => {
    const differs = [["years", (a, b) => b.year - a.year], ["quarters", (a, b) => b.quarter - a.quarter + (b.year - a.year) * 4],
      ["months", (a, b) => b.month - a.month + (b.year - a.year) * 12], ["weeks", (a, b) => { const d = dayDiff(a, b); return (d - (d % 7)) / 7; }],
      ["days", dayDiff]];
    const results = {};
    let cursor = earlier, lowestOrder, highWater;
    for (const [unit, differ] of differs) {
      if (!units.includes(unit)) continue;
      lowestOrder = unit;
      results[unit] = differ(cursor, later);
      highWater = earlier.plus(results);
      if (highWater > later) {
        results[unit]--;
        cursor = earlier.plus(results);
        if (cursor > later) { highWater = cursor; results[unit]--; cursor = earlier.plus(results); }
      } else cursor = highWater;
    }
    const remaining = later - cursor;
    const lower = units.filter((u) => ["hours", "minutes", "seconds", "milliseconds"].includes(u));
    if (lower.length === 0) {
      if (highWater < later) highWater = cursor.plus({ [lowestOrder]: 1 });
      if (highWater !== cursor) results[lowestOrder] = (results[lowestOrder] || 0) + remaining / (highWater - cursor);
    }
    const duration = Duration.fromObject(results);
    return lower.length > 0 ? Duration.fromMillis(remaining).shiftTo(...lower).plus(duration) : duration;
  };

  // ---- n8n's date extensions (n8n-workflow 1.119, extensions/date-extensions) ----
  const DURATION_MAP = { day: "days", month: "months", year: "years", week: "weeks", hour: "hours", minute: "minutes",
    second: "seconds", millisecond: "milliseconds", ms: "milliseconds", sec: "seconds", secs: "seconds", hr: "hours",
    hrs: "hours", min: "minutes", mins: "minutes" };
  const DATETIMEUNIT_MAP = { days: "day", months: "month", years: "year", hours: "hour", minutes: "minute", seconds: "second",
    milliseconds: "millisecond", hrs: "hour", hr: "hour", mins: "minute", min: "minute", secs: "second", sec: "second", ms: "millisecond" };
  const DIFF_UNITS = ["milliseconds", "seconds", "minutes", "hours", "days", "weeks", "months", "quarters", "years"];
  const DATE_PARTS = ["day", "week", "month", "year", "hour", "minute", "second", "millisecond", "weekNumber", "yearDayNumber", "weekday"];
  const durationArg = (args) => (args.length === 1 ? args[0] : { [DURATION_MAP[args[1] === undefined ? "minutes" : args[1]] || (args[1] === undefined ? "minutes" : args[1])]: args[0] === undefined ? 0 : args[0] });
  const convertToDateTime = (v) => {
    if (typeof v === "string") { const d = DateTime.fromJSDate(new Date(v)); return d.invalidReason !== null ? undefined : d; }
    if (v instanceof Date) return DateTime.fromJSDate(v);
    if (v instanceof DateTime) return v;
    return undefined;
  };
  const parseDateTime = (value) => {
    if (value instanceof DateTime && value.isValid) return value;
    if (value instanceof Date) { const d = DateTime.fromJSDate(value); if (d.isValid) return d; }
    const text = String(value).trim();
    for (const parse of [DateTime.fromISO, DateTime.fromHTTP, DateTime.fromRFC2822, DateTime.fromSQL]) {
      const d = parse(text, { setZone: true });
      if (d.isValid) return d;
    }
    const d = DateTime.fromMillis(Date.parse(text));
    if (d.isValid) return d;
    throw new Error("cannot convert to Luxon DateTime");
  };
  const numberToDateTime = (value, unit) => {
    if (!["ms", "s", "us", "excel"].includes(unit)) throw new Error("Unsupported format '" + String(unit) + "'. toDateTime() supports 'ms', 's', 'us' and 'excel'.");
    if (unit === "excel") return DateTime.fromSeconds((value - 25569) * 86400);
    if (unit === "s") return DateTime.fromSeconds(value);
    if (unit === "us") return DateTime.fromMillis(value / 1000);
    return DateTime.fromMillis(value);
  };
  const D = DateTime.prototype;
  const nativePlus = D.plus, nativeMinus = D.minus;
  def(D, "plus", function (...args) { return nativePlus.call(this, durationArg(args)); });
  def(D, "minus", function (...args) { return nativeMinus.call(this, durationArg(args)); });
  def(D, "format", function (fmt, localeOpts) { return this.toFormat(fmt, { ...(localeOpts || {}) }); });
  def(D, "beginningOf", function (unit = "week") { return this.startOf(DATETIMEUNIT_MAP[unit] || unit); });
  def(D, "endOfMonth", function () { return this.endOf("month"); });
  def(D, "isDst", function () { return this.isInDST; });
  def(D, "isWeekend", function () { return this.weekday >= 6; });
  def(D, "isBetween", function (...args) {
    if (args.length !== 2) throw new Error("isBetween(): expected exactly two args");
    const a = convertToDateTime(args[0]), b = convertToDateTime(args[1]);
    if (!a || !b) return undefined;
    return a > b ? b < this && this < a : b > this && this > a;
  });
  def(D, "isInLast", function (value = 0, unit = "minutes") {
    const past = DateTime.now().minus(durationArg([value, unit]));
    return past <= this && this <= DateTime.now();
  });
  def(D, "extract", function (part = "week") {
    if (part === "yearDayNumber") return this.ordinal;
    if (part === "week") part = "weekNumber";
    return this.get(DATETIMEUNIT_MAP[part] || part);
  });
  def(D, "diffTo", function (other, unit = "days") {
    let units = Array.isArray(unit) ? unit : [unit];
    if (units.length === 0) units = ["days"];
    const bad = units.find((u) => !DIFF_UNITS.includes(u) && !DATE_PARTS.includes(u));
    if (bad) throw new Error("Unsupported unit '" + String(bad) + "'. Supported: " + DIFF_UNITS.map((u) => "'" + u + "'").join(", ") + ".");
    const result = this.diff(other instanceof DateTime ? other : parseDateTime(other), units);
    return units.length > 1 ? result.toObject() : result.as(units[0]);
  });
  def(D, "diffToNow", function (unit) { return this.diffTo(DateTime.now(), unit); });
  def(D, "toDateTime", function () { return this; });
  def(D, "toInt", function () { return this.toMillis(); });
  def(D, "toFloat", function () { return this.toMillis(); });
  def(D, "toBoolean", function () { return undefined; });
  def(D, "isEmpty", function () { return false; });
  def(D, "isNotEmpty", function () { return true; });
  const stringToDateTime = function (format) {
    const value = String(this);
    try {
      if (format) {
        if (["ms", "s", "us", "excel"].includes(format)) return numberToDateTime(Number(value), format);
        return DateTime.fromFormat(value, format);
      }
      return parseDateTime(value);
    } catch (e) {
      throw new Error("cannot convert to Luxon DateTime");
    }
  };

  // Deep-freeze what is handed out, as the seal does for the prelude: one
  // evaluation cannot change what the next one sees.
  const freeze = freezer();
  const exports = {
    DateTime, Duration, stringToDateTime,
    numberToDateTime: function (format = "ms") { return numberToDateTime(Number(this), format); },
    dateToDateTime: function () { return DateTime.fromJSDate(this); },
  };
  freeze(exports);
  freeze(UTC);
  return exports;
})
