//! Go `text/template` language semantics, table-driven. Expected outputs are what Go's
//! `text/template` prints for the same text and data (cases follow Go's `exec_test.go` and
//! `parse_test.go` where they apply to our value types).

use lookout_template::{ErrorKind, Funcs, MissingKey, TemplateSet, Value, render};

fn data() -> Value {
    Value::from(serde_json::json!({
        "Name": "api",
        "Count": 3,
        "Zero": 0,
        "Half": 0.5,
        "Big": 1e21,
        "Hundred": 100.0,
        "Empty": "",
        "True": true,
        "List": ["a", "b", "c"],
        "EmptyList": [],
        "Nested": {"Inner": {"Deep": "down"}, "k": "v"},
        "Map": {"b": 2, "a": 1},
        "Nil": null,
    }))
}

fn run(text: &str) -> Result<String, lookout_template::TemplateError> {
    render(text, &data(), &Funcs::go_builtins())
}

#[test]
fn language() {
    let cases: &[(&str, &str)] = &[
        ("plain text", "plain text"),
        ("{{.Name}}", "api"),
        ("{{ .Nested.Inner.Deep }}", "down"),
        ("{{.Half}} {{.Big}} {{.Hundred}} {{.Count}}", "0.5 1e+21 100 3"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Nested.Missing.Deeper}}", "<no value>"),
        ("{{.Nil}}", "<no value>"),
        ("{{.List}}", "[a b c]"),
        ("{{.Map}}", "map[a:1 b:2]"),
        ("{{.True}} {{true}} {{false}}", "true true false"),
        ("{{1}} {{1.5}} {{0x10}} {{1e3}} {{'a'}} {{-2}} {{010}} {{1_000}}", "1 1.5 16 1000 97 -2 8 1000"),
        ("{{\"quoted\\t\"}}{{`raw\\n`}}", "quoted\traw\\n"),
        ("a  {{- .Name -}}  b", "aapib"),
        ("a {{- /* comment */ -}} b", "ab"),
        ("{{/* comment */}}x", "x"),
        ("x\n  {{- .Name}}\n", "xapi\n"),
        // Variables.
        ("{{$x := .Name}}{{$x}}", "api"),
        ("{{$x := 1}}{{$x = 2}}{{$x}}", "2"),
        (
            "{{$}}",
            "map[Big:1e+21 Count:3 Empty: EmptyList:[] Half:0.5 Hundred:100 List:[a b c] Map:map[a:1 b:2] Name:api Nested:map[Inner:map[Deep:down] k:v] Nil:<nil> True:true Zero:0]",
        ),
        ("{{with $x := .Nested}}{{$x.k}}{{end}}", "v"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        // if / else if / with.
        ("{{if .True}}yes{{else}}no{{end}}", "yes"),
        ("{{if .Empty}}yes{{else}}no{{end}}", "no"),
        ("{{if .Zero}}a{{else if .Count}}b{{else}}c{{end}}", "b"),
        ("{{if .EmptyList}}a{{else if .Nil}}b{{else}}c{{end}}", "c"),
        ("{{with .Nested}}{{.k}}{{end}}", "v"),
        ("{{with .Missing}}x{{else}}none{{end}}", "none"),
        ("{{with .Missing}}x{{else with .Name}}{{.}}{{end}}", "api"),
        // range.
        ("{{range .List}}<{{.}}>{{end}}", "<a><b><c>"),
        ("{{range $i, $e := .List}}{{$i}}={{$e}} {{end}}", "0=a 1=b 2=c "),
        ("{{range $e := .List}}{{$e}}{{end}}", "abc"),
        ("{{range $k, $v := .Map}}{{$k}}{{$v}}{{end}}", "a1b2"),
        ("{{range .EmptyList}}x{{else}}empty{{end}}", "empty"),
        ("{{range .Missing}}x{{else}}nil{{end}}", "nil"),
        ("{{range .List}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}", "a"),
        ("{{range .List}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}", "ac"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{range .List}}{{$.Name}}{{end}}", "apiapiapi"),
        // Pipelines and functions.
        ("{{.Name | printf \"%s!\"}}", "api!"),
        ("{{\"x\" | printf \"%s%s\" \"y\"}}", "yx"),
        ("{{printf \"%d-%s\" .Count .Name}}", "3-api"),
        ("{{printf \"%.2f\" .Half}}", "0.50"),
        ("{{printf \"%v %q\" .Half .Name}}", "0.5 \"api\""),
        ("{{(printf \"%s\" .Name)}}", "api"),
        ("{{len .List}} {{len .Name}} {{len .Map}}", "3 3 2"),
        ("{{index .List 1}} {{index .Map \"b\"}} {{index .Nested \"Inner\" \"Deep\"}}", "b 2 down"),
        ("{{index .Map \"zz\"}}", "<no value>"),
        ("{{slice .List 1 2}} {{slice .Name 1}}", "[b] pi"),
        ("{{print 1 2 \"a\" 3}}|{{println 1 \"a\"}}", "1 2a3|1 a\n"),
        ("{{html \"<a href='x'>&\"}}", "&lt;a href=&#39;x&#39;&gt;&amp;"),
        ("{{js \"it's <b>\"}}", "it\\'s \\u003Cb\\u003E"),
        ("{{urlquery \"a b&c=d\"}}", "a+b%26c%3Dd"),
        ("{{not .True}} {{not .Zero}}", "false true"),
        ("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" 3}} {{or 0 \"\"}}", "0 2 3 "),
        ("{{and .Nil .Nil.Boom}}", "<no value>"),
        ("{{or .Name (index .List 99)}}", "api"),
        ("{{eq .Name \"api\"}} {{eq .Count 3}} {{eq .Count 1 2 3}} {{ne .Name \"x\"}}", "true true true true"),
        ("{{lt 1 2}} {{le 2 2}} {{gt .Half 0.25}} {{ge \"b\" \"a\"}}", "true true true true"),
        ("{{eq .Nil .Nil}} {{eq .Missing \"x\"}}", "true false"),
        ("{{if and (gt .Count 1) (lt .Count 5)}}in{{end}}", "in"),
        ("{{.Nested.Inner | len}}", "1"),
        // Templates.
        ("{{define \"t\"}}[{{.}}]{{end}}{{template \"t\" .Name}}", "[api]"),
        ("{{define \"t\"}}[{{.}}]{{end}}{{template \"t\"}}", "[<no value>]"),
        ("{{block \"b\" .Count}}<{{.}}>{{end}}", "<3>"),
        ("{{define \"a\"}}{{template \"b\" .}}{{end}}{{define \"b\"}}{{.k}}{{end}}{{template \"a\" .Nested}}", "v"),
    ];
    for (text, want) in cases {
        match run(text) {
            Ok(got) => assert_eq!(&got, want, "template {text:?}"),
            Err(e) => panic!("template {text:?}: {e}"),
        }
    }
}

#[test]
fn errors() {
    // (text, error text, kind); messages are Go's.
    let cases: &[(&str, &str, ErrorKind)] = &[
        ("{{nope}}", "template: :1: function \"nope\" not defined", ErrorKind::Parse),
        ("{{ .Name }", "template: :1: unexpected \"}\" in operand", ErrorKind::Parse),
        ("{{.Name}", "template: :1: bad character U+007D '}'", ErrorKind::Parse),
        ("line1\n{{if .X}}", "template: :2: unexpected EOF", ErrorKind::Parse),
        ("{{end}}", "template: :1: unexpected {{end}}", ErrorKind::Parse),
        ("{{$x}}", "template: :1: undefined variable \"$x\"", ErrorKind::Parse),
        ("{{.Name", "template: :1: unclosed action", ErrorKind::Parse),
        ("{{break}}", "template: :1: {{break}} outside {{range}}", ErrorKind::Parse),
        ("{{}}", "template: :1: missing value for command", ErrorKind::Parse),
        ("{{ | .X}}", "template: :1: unexpected \"|\" in command", ErrorKind::Parse),
        ("{{.X | 1}}", "template: :1: non executable command in pipeline stage 2", ErrorKind::Parse),
        (
            "{{template \"nope\"}}",
            "template: :1:11: executing \"\" at <{{template \"nope\"}}>: template \"nope\" not defined",
            ErrorKind::Exec,
        ),
        (
            "x\n  {{.Name.Foo}}",
            "template: :2:9: executing \"\" at <.Name.Foo>: can't evaluate field Foo in type string",
            ErrorKind::Exec,
        ),
        (
            "{{index .List 5}}",
            "template: :1:2: executing \"\" at <index .List 5>: error calling index: index out of range: 5",
            ErrorKind::Exec,
        ),
        (
            "{{lt .Count 1.5}}",
            "template: :1:2: executing \"\" at <lt .Count 1.5>: error calling lt: incompatible types for comparison",
            ErrorKind::Exec,
        ),
        (
            "{{.Name 1}}",
            "template: :1:2: executing \"\" at <.Name>: Name is not a method but has arguments",
            ErrorKind::Exec,
        ),
        ("{{1 2}}", "template: :1:2: executing \"\" at <1>: can't give argument to non-function 1", ErrorKind::Exec),
        (
            "{{range .Name}}{{end}}",
            "template: :1:8: executing \"\" at <{{range .Name}}>: range can't iterate over api",
            ErrorKind::Exec,
        ),
        (
            "{{define \"r\"}}{{template \"r\"}}{{end}}{{template \"r\"}}",
            "exceeded maximum template depth (150)",
            ErrorKind::Exec,
        ),
    ];
    for (text, want, kind) in cases {
        match run(text) {
            Ok(out) => panic!("template {text:?} should fail, printed {out:?}"),
            Err(e) => {
                assert!(e.to_string().contains(want), "template {text:?}: got {e}, want {want}");
                assert_eq!(e.kind(), *kind, "template {text:?}");
            }
        }
    }
}

#[test]
fn missing_key_modes() {
    let data = Value::map([("Labels", Value::str_map([("job", "api")])), ("M", Value::map([("a", Value::Int(1))]))]);
    let mut set = TemplateSet::new(Funcs::go_builtins());
    set.parse("t", "{{.Labels.job}}|{{.Labels.nope}}|{{.M.nope}}").unwrap();
    assert_eq!(set.execute("t", &data).unwrap(), "api||<no value>");
    set.set_missing_key(MissingKey::Invalid);
    assert_eq!(set.execute("t", &data).unwrap(), "api|<no value>|<no value>");
    set.set_missing_key(MissingKey::Error);
    let e = set.execute("t", &data).unwrap_err();
    assert_eq!(e.to_string(), "template: t:1:25: executing \"t\" at <.Labels.nope>: map has no entry for key \"nope\"");
}

#[test]
fn set_defines_and_redefinition() {
    let mut set = TemplateSet::new(Funcs::go_builtins());
    set.parse("lib", "{{define \"a\"}}A1{{end}}{{define \"b\"}}B{{end}}").unwrap();
    set.parse("main", "{{template \"a\"}}{{template \"b\"}}").unwrap();
    assert!(set.has("a") && set.has("b") && set.has("main") && set.has("lib"));
    assert_eq!(set.execute("main", &Value::Nil).unwrap(), "A1B");
    // A later definition replaces an earlier one; an empty one does not.
    set.parse("lib2", "{{define \"a\"}}A2{{end}}{{define \"b\"}} {{end}}").unwrap();
    assert_eq!(set.execute("main", &Value::Nil).unwrap(), "A2B");
    // A failed parse leaves the set as it was.
    assert!(set.parse("bad", "{{define \"a\"}}{{nope}}{{end}}").is_err());
    assert_eq!(set.execute("main", &Value::Nil).unwrap(), "A2B");
    assert_eq!(set.execute_text("{{template \"b\"}}!", &Value::Nil).unwrap(), "B!");
    assert_eq!(
        set.execute("zzz", &Value::Nil).unwrap_err().to_string(),
        "template: no template \"zzz\" associated with template set"
    );
    // Clones share trees and stay independent.
    let shared = set.clone();
    set.parse("main", "changed").unwrap();
    assert_eq!(shared.execute("main", &Value::Nil).unwrap(), "A2B");
    assert_eq!(set.execute("main", &Value::Nil).unwrap(), "changed");
}

#[test]
fn custom_functions() {
    let funcs = Funcs::go_builtins().with(
        "double",
        std::sync::Arc::new(|a: &[Value]| match a {
            [Value::Int(i)] => Ok(Value::Int(i * 2)),
            _ => Err("want one int".into()),
        }),
    );
    assert_eq!(render("{{double 21}} {{21 | double}}", &Value::Nil, &funcs).unwrap(), "42 42");
    let e = render("{{double \"x\"}}", &Value::Nil, &funcs).unwrap_err();
    assert_eq!(e.to_string(), "template: :1:2: executing \"\" at <double \"x\">: error calling double: want one int");
}

/// Deep nesting fails with an error instead of overflowing the stack (run on a 2 MiB stack, the
/// size of a tokio worker's).
#[test]
fn deep_nesting_is_an_error() {
    let run = |text: String| {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || render(&text, &Value::Nil, &Funcs::go_builtins()).map_err(|e| e.to_string()))
            .unwrap()
            .join()
            .unwrap()
    };
    let ifs = |n: usize| format!("{}x{}", "{{if 1}}".repeat(n), "{{end}}".repeat(n));
    assert_eq!(run(ifs(90)).unwrap(), "x");
    assert_eq!(run(ifs(5000)).unwrap_err(), "template: :1: max expression depth exceeded");
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert_eq!(run(parens).unwrap_err(), "template: :1: max expression depth exceeded");
    // A template recursing through nested blocks stops at the execution depth limit.
    let rec = format!(
        "{{{{define \"r\"}}}}{}{{{{template \"r\" .}}}}{}{{{{end}}}}{{{{template \"r\"}}}}",
        "{{if 1}}".repeat(60),
        "{{end}}".repeat(60)
    );
    assert!(run(rec).unwrap_err().ends_with("exceeded maximum template depth (150)"));
}
