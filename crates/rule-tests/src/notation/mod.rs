//! The series notation of promtool test files: `metric{label="value"} 1+2x3 _ stale`
//! (Prometheus `parser.ParseSeriesDesc`), and the bare metric form of `exp_samples`
//! labels (`parser.ParseMetric`).
//!
//! A hand-written parser in the shape of Prometheus's lexer and grammar, so the same
//! inputs are accepted, values expand the same way (`a+bxn` accumulates `b` n times,
//! as Prometheus adds rather than multiplies), and errors read like Prometheus's:
//! `1:COL: parse error: MESSAGE`, the column a byte offset into the trimmed line.

/// One value of an expanded sequence: `None` is `_` (no sample at that step).
pub type SequenceValue = Option<f64>;

/// Expanded sequences longer than this are refused, so a typo like `1x1000000000`
/// cannot exhaust memory.
pub const MAX_SEQUENCE: u64 = 5_000_000;

mod lexer;

use lexer::{Lexer, Tok};

/// A parse error at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Byte offset in the parsed text.
    pub pos: usize,
    /// Prometheus's message.
    pub msg: String,
}

impl std::fmt::Display for ParseError {
    /// `1:COL: parse error: MSG`, as Prometheus's `ParseErr` prints a one-line input.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "1:{}: parse error: {}", self.pos + 1, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// Label pairs in the order written (the caller sorts and checks them).
pub type RawLabels = Vec<(String, String)>;

struct Parser<'a> {
    lex: Lexer<'a>,
}

impl Parser<'_> {
    fn unexpected<T>(&self, (pos, tok): &(usize, Tok), context: &str, expected: &str) -> Result<T, ParseError> {
        let mut msg = format!("unexpected {}", tok.desc());
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        Err(ParseError { pos: *pos, msg })
    }

    /// `{a="b", ...}` after the opening brace.
    fn label_set(&mut self, out: &mut RawLabels) -> Result<(), ParseError> {
        let mut t = self.lex.braces()?;
        loop {
            let name = match t.1 {
                Tok::RBrace => return Ok(()),
                Tok::Ident(ref n) => n.clone(),
                _ => return self.unexpected(&t, "label set", "identifier or \"}\""),
            };
            let eq = self.lex.braces()?;
            if eq.1 != Tok::Eql {
                return self.unexpected(&eq, "label set", "\"=\"");
            }
            let v = self.lex.braces()?;
            let Tok::Str(value, _) = v.1 else { return self.unexpected(&v, "label set", "string") };
            out.push((name, value));
            let sep = self.lex.braces()?;
            match sep.1 {
                Tok::RBrace => return Ok(()),
                Tok::Comma => t = self.lex.braces()?,
                _ => return self.unexpected(&sep, "label set", "\",\" or \"}\""),
            }
        }
    }

    /// The metric: a name, a label set, or both; `__name__` from the name wins.
    /// `context` names the grammar part an unexpected first token is reported in.
    fn metric(&mut self, context: &str) -> Result<RawLabels, ParseError> {
        let first = self.lex.statement()?;
        let mut labels = RawLabels::new();
        match &first.1 {
            Tok::Ident(name) => {
                let name = name.clone();
                if self.lex.peek() == Some('{') {
                    self.lex.pos += 1;
                    self.label_set(&mut labels)?;
                }
                labels.retain(|(k, _)| k != "__name__");
                labels.push(("__name__".to_string(), name));
            }
            Tok::LBrace => self.label_set(&mut labels)?,
            _ => return self.unexpected(&first, context, ""),
        }
        Ok(labels)
    }

    fn number(&self, (pos, tok): &(usize, Tok)) -> Result<f64, ParseError> {
        let Tok::Number(s) = tok else { unreachable!("called on numbers") };
        go_parse_number(s).map_err(|e| ParseError { pos: *pos, msg: format!("error parsing number: {e}") })
    }

    fn repetition(&mut self) -> Result<u64, ParseError> {
        let t = self.lex.values()?;
        let Tok::Number(s) = &t.1 else { return self.unexpected(&t, "series values", "") };
        let n: u64 = s.parse().map_err(|_| ParseError {
            pos: t.0,
            msg: format!("invalid repetition in series values: strconv.ParseUint: parsing {s:?}: {}", uint_err(s)),
        })?;
        if n >= MAX_SEQUENCE {
            return Err(ParseError { pos: t.0, msg: format!("repetition {n} is too long (at most {MAX_SEQUENCE})") });
        }
        Ok(n)
    }

    /// A value: a number, `stale`, or a signed number.
    fn value(&mut self, t: &(usize, Tok)) -> Result<f64, ParseError> {
        match &t.1 {
            Tok::Number(_) => self.number(t),
            Tok::Ident(w) if w == "stale" => Ok(lookout_tsdb::stale_nan()),
            Tok::Ident(_) => self.unexpected(t, "series values", "number or \"stale\""),
            Tok::Add | Tok::Sub => self.signed(t),
            _ => self.unexpected(t, "", ""),
        }
    }

    fn signed(&mut self, sign: &(usize, Tok)) -> Result<f64, ParseError> {
        let n = self.lex.values()?;
        if !matches!(n.1, Tok::Number(_)) {
            return self.unexpected(&n, "series values", "");
        }
        let v = self.number(&n)?;
        Ok(if sign.1 == Tok::Sub { -v } else { v })
    }

    /// The items after the metric.
    fn values(&mut self) -> Result<Vec<SequenceValue>, ParseError> {
        let mut out: Vec<SequenceValue> = Vec::new();
        let mut t = self.lex.values()?;
        match t.1 {
            Tok::Eof => return Ok(out),
            Tok::Space => {}
            _ => return self.unexpected(&t, "series values", ""),
        }
        loop {
            // After a space: an item or the end.
            let item = self.lex.values()?;
            match item.1 {
                Tok::Eof => return Ok(out),
                Tok::Blank => {
                    let next = self.lex.values()?;
                    if next.1 == Tok::Times {
                        let n = self.repetition()?;
                        self.grow(&mut out, n, item.0)?;
                        out.extend(std::iter::repeat_n(None, n as usize));
                        t = self.lex.values()?;
                    } else {
                        out.push(None);
                        t = next;
                    }
                }
                Tok::Number(_) | Tok::Ident(_) | Tok::Add | Tok::Sub => {
                    let mut v = self.value(&item)?;
                    let next = self.lex.values()?;
                    match next.1 {
                        Tok::Times => {
                            let n = self.repetition()?;
                            self.grow(&mut out, n + 1, item.0)?;
                            out.extend(std::iter::repeat_n(Some(v), n as usize + 1));
                            t = self.lex.values()?;
                        }
                        Tok::Add | Tok::Sub => {
                            let step = self.signed(&next)?;
                            let times = self.lex.values()?;
                            if times.1 != Tok::Times {
                                return self.unexpected(&times, "series values", "");
                            }
                            let n = self.repetition()?;
                            self.grow(&mut out, n + 1, item.0)?;
                            out.push(Some(v));
                            for _ in 0..n {
                                v += step;
                                out.push(Some(v));
                            }
                            t = self.lex.values()?;
                        }
                        _ => {
                            out.push(Some(v));
                            t = next;
                        }
                    }
                }
                _ => return self.unexpected(&item, "", ""),
            }
            // After a complete item: a space or the end.
            match t.1 {
                Tok::Eof => return Ok(out),
                Tok::Space => {}
                _ => return self.unexpected(&t, "", ""),
            }
        }
    }

    fn grow(&self, out: &mut Vec<SequenceValue>, n: u64, pos: usize) -> Result<(), ParseError> {
        if out.len() as u64 + n > MAX_SEQUENCE {
            return Err(ParseError { pos, msg: format!("series values expand to more than {MAX_SEQUENCE} samples") });
        }
        out.reserve(n as usize);
        Ok(())
    }
}

fn uint_err(s: &str) -> &'static str {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { "value out of range" } else { "invalid syntax" }
}

/// `strconv.ParseFloat`'s `*NumError`, worded as Go words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum NumError {
    #[error("strconv.ParseFloat: parsing {0:?}: invalid syntax")]
    Syntax(String),
    #[error("strconv.ParseFloat: parsing {0:?}: value out of range")]
    Range(String),
}

/// Prometheus's `parser.number`: `strconv.ParseInt(s, 0, 64)` first (so `010` is
/// octal 8), then `strconv.ParseFloat`; the error is ParseFloat's.
fn go_parse_number(s: &str) -> Result<f64, NumError> {
    if let Some(v) = go_parse_int_base0(s) {
        return Ok(v as f64);
    }
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Ok(f64::INFINITY),
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    let syntax = || NumError::Syntax(s.to_owned());
    // Rust accepts forms Go does not (`inf` handled above); Go accepts `1.`, `.5`, `1e5`.
    let v: f64 = s.parse().map_err(|_| syntax())?;
    if v.is_infinite() {
        return Err(NumError::Range(s.to_owned()));
    }
    Ok(v)
}

fn go_parse_int_base0(s: &str) -> Option<i64> {
    // The magnitude must fit an i64 (so, as before this shared helper, `-2^63` is refused
    // here and read by ParseFloat instead, with the same value).
    let (neg, v) = crate::yaml::go_int_parts(s)?;
    let v = i64::try_from(v).ok()?;
    Some(if neg { -v } else { v })
}

/// Parses `series` + ` ` + `values` as promtool's loader does (one trimmed line).
pub fn parse_series_desc(line: &str) -> Result<(RawLabels, Vec<SequenceValue>), ParseError> {
    let mut p = Parser { lex: Lexer { s: line, pos: 0, series: true } };
    let labels = p.metric("series values")?;
    let values = p.values()?;
    Ok((labels, values))
}

/// Parses an `exp_samples` `labels` string (`parser.ParseMetric`): `name{a="b"}`,
/// `{a="b"}` or `{}`.
pub fn parse_metric(text: &str) -> Result<RawLabels, ParseError> {
    let mut p = Parser { lex: Lexer { s: text, pos: 0, series: false } };
    let first = p.lex.statement()?;
    let mut labels = RawLabels::new();
    match &first.1 {
        Tok::Ident(name) => {
            let name = name.clone();
            let next = p.lex.statement()?;
            match next.1 {
                Tok::LBrace => p.label_set(&mut labels)?,
                Tok::Eof => {}
                _ => return p.unexpected(&next, "", ""),
            }
            labels.retain(|(k, _)| k != "__name__");
            labels.push(("__name__".to_string(), name));
        }
        Tok::LBrace => p.label_set(&mut labels)?,
        // The label set is optional: an empty text is the empty metric.
        Tok::Eof => return Ok(labels),
        _ => return p.unexpected(&first, "", ""),
    }
    let end = p.lex.statement()?;
    if end.1 != Tok::Eof {
        return p.unexpected(&end, "", "");
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(v: &str) -> Vec<SequenceValue> {
        parse_series_desc(&format!("x {v}")).unwrap().1
    }

    fn err(line: &str) -> String {
        parse_series_desc(line).unwrap_err().to_string()
    }

    #[test]
    fn expands_like_prometheus() {
        assert_eq!(vals("1 2 3"), vec![Some(1.0), Some(2.0), Some(3.0)]);
        assert_eq!(vals("1+2x3"), vec![Some(1.0), Some(3.0), Some(5.0), Some(7.0)]);
        assert_eq!(vals("-2+4x3"), vec![Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]);
        assert_eq!(vals("1-2x4"), vec![Some(1.0), Some(-1.0), Some(-3.0), Some(-5.0), Some(-7.0)]);
        assert_eq!(vals("1x4"), vec![Some(1.0); 5]);
        assert_eq!(vals("1 _x3 _ 2"), vec![Some(1.0), None, None, None, None, Some(2.0)]);
        assert_eq!(vals("010 08 1e3 .5 -Inf +inf"), vals("8 8 1000 0.5 -Inf Inf"));
        assert_eq!(vals("0x2"), vec![Some(0.0); 3], "no hex in series: 0 repeated");
        assert!(vals("NaN")[0].unwrap().is_nan());
        assert!(lookout_tsdb::is_stale(vals("stale")[0].unwrap()));
        assert_eq!(vals(" 1  2 "), vec![Some(1.0), Some(2.0)]);
        assert_eq!(vals(""), vec![]);
        // Accumulated like Prometheus (`$1 += $2`), not multiplied.
        let acc = vals("0+0.1x10");
        assert_eq!(acc[10], Some((0..10).fold(0.0, |a, _| a + 0.1)));
    }

    #[test]
    fn metrics_and_labels() {
        let (l, _) = parse_series_desc(r#"up{job="a", instance='b\n', x=`c\d`,} 1"#).unwrap();
        assert_eq!(
            l,
            vec![
                ("job".into(), "a".into()),
                ("instance".into(), "b\n".into()),
                ("x".into(), "c\\d".into()),
                ("__name__".into(), "up".into())
            ]
        );
        assert_eq!(parse_series_desc(r#"{a="\u00e9\x41\101"} 1"#).unwrap().0, vec![("a".into(), "éAA".into())]);
        assert_eq!(parse_series_desc("a:b:c 1").unwrap().0, vec![("__name__".into(), "a:b:c".into())]);
        assert_eq!(parse_metric("{}").unwrap(), vec![]);
        assert_eq!(parse_metric("").unwrap(), vec![]);
        assert_eq!(parse_metric(r#"x{__name__="y"}"#).unwrap(), vec![("__name__".into(), "x".into())]);
        assert_eq!(
            parse_metric("x{").unwrap_err().to_string(),
            "1:3: parse error: unexpected end of input inside braces"
        );
    }

    #[test]
    fn errors_match_prometheus() {
        // Each message and column checked against promtool 2.42.
        let cases = [
            (
                r#"x{a="b"} 1 2 foo"#,
                r#"1:14: parse error: unexpected identifier "foo" in series values, expected number or "stale""#,
            ),
            (r#"x{a="b"} 1 2x"#, "1:14: parse error: unexpected end of input in series values"),
            (r#"x{a="b"} 1 x3"#, r#"1:12: parse error: unexpected "x""#),
            (r#"x{a="b"} 1+x3"#, r#"1:12: parse error: unexpected "x" in series values"#),
            (r#"x{a="b"} 1 2 3 %"#, "1:16: parse error: unexpected character in series sequence: '%'"),
            (
                r#"x{a="b"} 1e"#,
                r#"1:10: parse error: error parsing number: strconv.ParseFloat: parsing "1e": invalid syntax"#,
            ),
            (r#"x{a="b"} 1_"#, r#"1:10: parse error: bad number syntax: "1""#),
            ("x 1x-3", "1:5: parse error: unexpected <op:-> in series values"),
            (
                "x 1x1.5",
                r#"1:5: parse error: invalid repetition in series values: strconv.ParseUint: parsing "1.5": invalid syntax"#,
            ),
            ("x __", r#"1:4: parse error: unexpected "_""#),
            ("x 1+2x3x4", r#"1:8: parse error: unexpected "x""#),
            (
                "x 1 1e400",
                r#"1:5: parse error: error parsing number: strconv.ParseFloat: parsing "1e400": value out of range"#,
            ),
            ("x 1+2 x3", r#"1:6: parse error: unexpected " " in series values"#),
            (
                "x 1 stalex2",
                r#"1:5: parse error: unexpected identifier "stalex2" in series values, expected number or "stale""#,
            ),
            ("x 1,2", "1:4: parse error: unexpected character in series sequence: ','"),
            ("x 1 _+1", "1:6: parse error: unexpected <op:+>"),
            ("x 1 -_", r#"1:6: parse error: unexpected "_" in series values"#),
            ("x 1 }", "1:5: parse error: unexpected character in series sequence: '}'"),
            ("x{a=b} 1", r#"1:5: parse error: unexpected identifier "b" in label set, expected string"#),
            (r#"x{a="b" 1"#, "1:9: parse error: unexpected character inside braces: '1'"),
            ("x{,} 1", r#"1:3: parse error: unexpected "," in label set, expected identifier or "}""#),
            ("x{a} 1", r#"1:4: parse error: unexpected "}" in label set, expected "=""#),
            ("x-y 1", "1:2: parse error: unexpected <op:-> in series values"),
            (r#"x{a!="b"} 1"#, r#"1:4: parse error: unexpected <op:!=> in label set, expected "=""#),
            ("x y", r#"1:3: parse error: unexpected identifier "y" in series values, expected number or "stale""#),
            (r#"x{a="\q"} 1"#, "1:5: parse error: unknown escape sequence U+0071 'q'"),
            ("1x 1", r#"1:1: parse error: unexpected number "1" in series values"#),
            (r#"x{a="b"}{c="d"} 1"#, "1:9: parse error: unexpected character in series sequence: '{'"),
            (r#"x{a="b"}1"#, r#"1:9: parse error: unexpected number "1" in series values"#),
            (r#"x{a="b" c="d"} 1"#, r#"1:9: parse error: unexpected identifier "c" in label set, expected "," or "}""#),
            ("x{a=} 1", r#"1:5: parse error: unexpected "}" in label set, expected string"#),
            (r#"x{="a"} 1"#, r#"1:3: parse error: unexpected "=" in label set, expected identifier or "}""#),
            (r#"x{a=~"b"} 1"#, r#"1:4: parse error: unexpected <op:=~> in label set, expected "=""#),
            (r#"x{a="b 1"#, "1:5: parse error: unterminated quoted string"),
            ("x{1=\"b\"} 1", "1:3: parse error: unexpected character inside braces: '1'"),
            ("x} 1", "1:2: parse error: unexpected character in series sequence: '}'"),
            ("x 1 _ +", "1:8: parse error: unexpected end of input in series values"),
            ("x 1 -x", r#"1:6: parse error: unexpected "x" in series values"#),
            ("x 1+1x-2", "1:7: parse error: unexpected <op:-> in series values"),
            // Tokens of the PromQL lexer before the metric (fuzzed against promtool 2.42).
            (r#""b" 1"#, r#"1:1: parse error: unexpected string "\"b\"" in series values"#),
            ("é 1", "1:1: parse error: unexpected character: 'é'"),
            ("x{é=\"b\"} 1", "1:3: parse error: unexpected character inside braces: 'é'"),
            ("} 1", "1:1: parse error: unexpected character: '}'"),
            ("!= 1", "1:1: parse error: unexpected <op:!=> in series values"),
            ("@ 1", r#"1:1: parse error: unexpected "<Item 57385>" <op:@> in series values"#),
            (") 1", "1:2: parse error: unexpected right parenthesis ')'"),
            ("1a 1", r#"1:1: parse error: bad number or duration syntax: "1""#),
            ("5mu 1", r#"1:1: parse error: bad number or duration syntax: "5mu""#),
            ("5m 1", r#"1:1: parse error: unexpected duration "5m" in series values"#),
            ("12345678901234 1", r#"1:1: parse error: unexpected number "1234567890"... in series values"#),
        ];
        for (line, want) in cases {
            assert_eq!(err(line), want, "{line}");
        }
        assert!(err("x 1x99999999").contains("too long"));
    }
}
