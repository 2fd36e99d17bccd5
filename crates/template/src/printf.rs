//! Go's `fmt.Sprintf`/`Sprint`/`Sprintln` over template values: verbs, flags, width and
//! precision, and Go's in-band error forms (`%!d(string=x)`, `%!v(MISSING)`, `%!(EXTRA …)`).

use std::fmt::Write as _;

use crate::gofmt;
use crate::quote::{go_quote, go_quote_to_ascii};
use crate::value::Value;

/// `fmt.Sprint`: operands printed with `%v`, a space between two operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        a.write_go(&mut out);
    }
    out
}

/// `fmt.Sprintln`: always a space between operands, and a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        a.write_go(&mut out);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut argn = 0;
    let mut reordered = false;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
                _ => break,
            }
            chars.next();
        }
        // Explicit argument index `[n]`.
        let mut bad_index = false;
        let mut take_index = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, argn: &mut usize| {
            if chars.peek().map(|x| x.1) == Some('[') {
                chars.next();
                let mut n = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    chars.next();
                    if d == ']' {
                        break;
                    }
                    n.push(d);
                }
                match n.parse::<usize>() {
                    Ok(i) if i >= 1 && i <= args.len() => *argn = i - 1,
                    _ => bad_index = true,
                }
                reordered = true;
            }
        };
        take_index(&mut chars, &mut argn);
        if chars.peek().map(|x| x.1) == Some('*') {
            chars.next();
            match args.get(argn) {
                Some(Value::Int(w)) => {
                    if *w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            argn += 1;
        } else {
            spec.width = digits(&mut chars);
        }
        if chars.peek().map(|x| x.1) == Some('.') {
            chars.next();
            take_index(&mut chars, &mut argn);
            if chars.peek().map(|x| x.1) == Some('*') {
                chars.next();
                match args.get(argn) {
                    Some(Value::Int(p)) if *p >= 0 => spec.prec = Some(*p as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
                argn += 1;
            } else {
                spec.prec = Some(digits(&mut chars).unwrap_or(0));
            }
        }
        take_index(&mut chars, &mut argn);
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        // `%+v` asks for struct field names, not a sign.
        if verb == 'v' {
            spec.plus = false;
        }
        if bad_index {
            let _ = write!(out, "%!{verb}(BADINDEX)");
            continue;
        }
        match args.get(argn) {
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
            Some(a) => {
                let s = format_arg(a, verb, &spec);
                pad(&mut out, &s, &spec, a);
            }
        }
        argn += 1;
    }
    if !reordered && argn < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argn..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match a {
                Value::Nil => out.push_str("<nil>"),
                _ => {
                    let _ = write!(out, "{}={}", a.type_name(), a.to_go_string());
                }
            }
        }
        out.push(')');
    }
    out
}

fn digits(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(&(_, d)) = chars.peek() {
        let Some(v) = d.to_digit(10) else { break };
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(v as usize).min(1_000_000));
        chars.next();
    }
    n
}

fn pad(out: &mut String, s: &str, spec: &Spec, arg: &Value) {
    let width = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && !matches!(arg, Value::Float(f) if !f.is_finite()) {
        // Zero padding goes after the sign.
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+' | b'-' | b' ') if !matches!(arg, Value::String(_)) => s.split_at(1),
            _ => ("", s),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn bad_verb(verb: char, a: &Value) -> String {
    match a {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", a.type_name(), a.to_go_string()),
    }
}

fn format_arg(a: &Value, verb: char, spec: &Spec) -> String {
    if verb == 'T' {
        return a.type_name().to_owned();
    }
    match a {
        Value::Nil => match verb {
            'v' => "<nil>".into(),
            _ => bad_verb(verb, a),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => b.to_string(),
            _ => bad_verb(verb, a),
        },
        Value::Int(i) => format_int(*i, verb, spec).unwrap_or_else(|| bad_verb(verb, a)),
        Value::Duration(d) => match verb {
            'v' | 's' | 'q' => format_str(&a.to_go_string(), verb, spec),
            _ => format_int(*d, verb, spec).unwrap_or_else(|| bad_verb(verb, a)),
        },
        Value::Float(f) => format_float(*f, verb, spec).unwrap_or_else(|| bad_verb(verb, a)),
        Value::String(s) => match verb {
            'v' if spec.sharp => go_quote(s),
            'v' | 's' | 'q' | 'x' | 'X' => format_str(s, verb, spec),
            _ => bad_verb(verb, a),
        },
        Value::List(l) | Value::Alerts(l) => {
            let mut s = String::from("[");
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(&format_arg(v, verb, &Spec { width: None, ..*spec }));
            }
            s.push(']');
            s
        }
        Value::Map(m) => {
            let mut s = String::from("map[");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(&format_str(k, verb, &Spec::default()));
                s.push(':');
                s.push_str(&format_arg(v, verb, &Spec { width: None, ..*spec }));
            }
            s.push(']');
            s
        }
        Value::StrMap(m) => {
            let mut s = String::from("map[");
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                let _ =
                    write!(s, "{}:{}", format_str(k, verb, &Spec::default()), format_str(v, verb, &Spec::default()));
            }
            s.push(']');
            s
        }
        Value::Struct(t, fields) => {
            let mut s = String::from(if t.starts_with('*') { "&{" } else { "{" });
            for (i, (_, v)) in fields.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(&format_arg(v, verb, &Spec { width: None, ..*spec }));
            }
            s.push('}');
            s
        }
        // Types with a `String()` method print through it for the string verbs.
        Value::KV(_) | Value::Pairs(_) | Value::Time(_) => match verb {
            'v' | 's' | 'q' | 'x' | 'X' => format_str(&a.to_go_string(), verb, spec),
            _ => bad_verb(verb, a),
        },
    }
}

fn format_str(s: &str, verb: char, spec: &Spec) -> String {
    let s: &str = match spec.prec {
        Some(p) if verb != 'x' && verb != 'X' => match s.char_indices().nth(p) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        _ => s,
    };
    match verb {
        'q' if spec.sharp && !s.contains('`') && !s.chars().any(|c| c.is_control() && c != '\t') => format!("`{s}`"),
        'q' if spec.plus => go_quote_to_ascii(s),
        'q' => go_quote(s),
        'x' | 'X' => {
            let mut o = String::with_capacity(s.len() * 2);
            for (i, b) in s.bytes().enumerate() {
                if spec.space && i > 0 {
                    o.push(' ');
                }
                if verb == 'x' {
                    let _ = write!(o, "{b:02x}");
                } else {
                    let _ = write!(o, "{b:02X}");
                }
            }
            o
        }
        _ => s.to_owned(),
    }
}

fn sign(neg: bool, spec: &Spec) -> &'static str {
    if neg {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

fn format_int(i: i64, verb: char, spec: &Spec) -> Option<String> {
    let u = i.unsigned_abs();
    let (body, prefix) = match verb {
        'd' | 'v' => (u.to_string(), ""),
        'b' => (format!("{u:b}"), if spec.sharp { "0b" } else { "" }),
        'o' => (format!("{u:o}"), if spec.sharp { "0" } else { "" }),
        'O' => (format!("{u:o}"), "0o"),
        'x' => (format!("{u:x}"), if spec.sharp { "0x" } else { "" }),
        'X' => (format!("{u:X}"), if spec.sharp { "0X" } else { "" }),
        'c' => return Some(char::from_u32(i as u32).unwrap_or('\u{FFFD}').to_string()),
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{FFFD}');
            return Some(match c {
                '\'' => "'\\''".into(),
                '"' => "'\"'".into(),
                c => {
                    let c = c.to_string();
                    let q = if spec.plus { go_quote_to_ascii(&c) } else { go_quote(&c) };
                    format!("'{}'", &q[1..q.len() - 1])
                }
            });
        }
        'U' => return Some(format!("U+{i:04X}")),
        _ => return None,
    };
    let body = match spec.prec {
        Some(p) if body.len() < p => format!("{}{body}", "0".repeat(p - body.len())),
        Some(0) if i == 0 => String::new(),
        _ => body,
    };
    Some(format!("{}{prefix}{body}", sign(i < 0, spec)))
}

fn format_float(f: f64, verb: char, spec: &Spec) -> Option<String> {
    let s = match verb {
        'v' | 'g' => gofmt::fmt_g(f, spec.prec),
        'G' => gofmt::fmt_g(f, spec.prec).to_uppercase(),
        'e' => gofmt::fmt_e(f, spec.prec.unwrap_or(6)),
        'E' => gofmt::fmt_e(f, spec.prec.unwrap_or(6)).to_uppercase(),
        'f' | 'F' => gofmt::fmt_f(f, spec.prec.unwrap_or(6)),
        _ => return None,
    };
    if !s.starts_with(['-', '+']) && (spec.plus || spec.space) {
        return Some(format!("{}{s}", sign(false, spec)));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sprintf_like_go() {
        let s = |v: &str| Value::from(v);
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("%.2f", vec![Value::Float(2.0 / 3.0)], "0.67"),
            ("%d", vec![Value::Int(42)], "42"),
            ("%5d|%-5d|%05d", vec![Value::Int(42), Value::Int(42), Value::Int(-42)], "   42|42   |-0042"),
            ("%s and %v", vec![s("a"), Value::Float(0.5)], "a and 0.5"),
            ("%q", vec![s("a\"b\n")], "\"a\\\"b\\n\""),
            ("%v", vec![Value::Float(1e21)], "1e+21"),
            (
                "%g %e %G",
                vec![Value::Float(1234567.0), Value::Float(1500.0), Value::Float(1e-7)],
                "1.234567e+06 1.500000e+03 1E-07",
            ),
            ("%x %X %o %b", vec![Value::Int(255), s("hi"), Value::Int(8), Value::Int(5)], "ff 6869 10 101"),
            ("%d", vec![s("x")], "%!d(string=x)"),
            ("%d %d", vec![Value::Int(1)], "1 %!d(MISSING)"),
            ("%d", vec![Value::Int(1), s("x")], "1%!(EXTRA string=x)"),
            ("%f", vec![Value::Int(1)], "%!f(int=1)"),
            ("%.1s|%6.2f|%+d", vec![s("abc"), Value::Float(5.4321), Value::Int(3)], "a|  5.43|+3"),
            ("100%%", vec![], "100%"),
            ("%v %s", vec![Value::Nil, Value::Nil], "<nil> %!s(<nil>)"),
            ("%v", vec![Value::List(vec![Value::Int(1), s("a")])], "[1 a]"),
            ("%s", vec![Value::kv([("b", "2"), ("a", "1")])], "a=1, b=2"),
            ("%[2]d %[1]d", vec![Value::Int(1), Value::Int(2)], "2 1"),
            ("%c%c", vec![Value::Int(72), Value::Int(105)], "Hi"),
            ("%t", vec![Value::Bool(true)], "true"),
            ("%.3g", vec![Value::Float(f64::NAN)], "NaN"),
            ("%*d", vec![Value::Int(4), Value::Int(7)], "   7"),
        ];
        for (f, args, want) in cases {
            assert_eq!(sprintf(f, &args), want, "{f}");
        }
    }

    #[test]
    fn sprint_spacing() {
        let args = [Value::Int(1), Value::Int(2), Value::from("a"), Value::Int(3)];
        assert_eq!(sprint(&args), "1 2a3");
        assert_eq!(sprintln(&args), "1 2 a 3\n");
    }
}
