//! The function table templates call (`{{ humanize $value }}`, `{{ .X | toUpper }}`), and the
//! argument conversions functions share (with Go's wording for wrong types).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::error::FuncError;
use crate::value::Value;

/// A template function: arguments in call order (a pipeline's value last), a result or an error
/// (see [`FuncError`] for how each kind is reported).
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, FuncError> + Send + Sync>;

/// Runs a PromQL instant query for Prometheus's `query` template function: each sample's labels
/// and value. An error is reported as `error calling query: MESSAGE`.
pub type QueryHook = Arc<dyn Fn(&str) -> Result<Vec<(BTreeMap<String, String>, f64)>, FuncError> + Send + Sync>;

#[derive(Clone)]
pub(crate) enum FuncKind {
    /// Go's `and`/`or`: evaluated lazily by the executor (Go 1.18+).
    And,
    Or,
    /// Prometheus's `externalURL`/`pathPrefix`: read the data's `.ExternalURL`.
    ExternalUrl,
    PathPrefix,
    Native(Func),
}

/// A table of template functions. Always holds Go's builtins (`and`, `or`, `not`, `len`,
/// `index`, `slice`, `print`, `printf`, `println`, `html`, `js`, `urlquery`, `eq`, `ne`, `lt`,
/// `le`, `gt`, `ge`); add Prometheus's or Alertmanager's sets, or your own. Cheap to clone.
#[derive(Clone)]
pub struct Funcs {
    map: HashMap<String, FuncKind>,
}

impl Default for Funcs {
    fn default() -> Self {
        Funcs::go_builtins()
    }
}

impl std::fmt::Debug for Funcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.map.keys().collect();
        names.sort();
        f.debug_struct("Funcs").field("names", &names).finish()
    }
}

impl Funcs {
    /// Go's `text/template` builtin functions.
    pub fn go_builtins() -> Self {
        let mut f = Funcs { map: HashMap::new() };
        f.map.insert("and".into(), FuncKind::And);
        f.map.insert("or".into(), FuncKind::Or);
        crate::builtins::register(&mut f);
        f
    }

    /// Adds Prometheus's rule/console template functions (`humanize*`, `query`, `first`, `label`,
    /// `value`, `sortByLabel`, `reReplaceAll`, `match`, `title`, `toTime`, `parseDuration`,
    /// `stripPort`, `stripDomain`, `graphLink`, `externalURL`, …). Without a hook, `query` fails
    /// with an error when called.
    pub fn with_prometheus(mut self, query_hook: Option<QueryHook>) -> Self {
        self.map.insert("externalURL".into(), FuncKind::ExternalUrl);
        self.map.insert("pathPrefix".into(), FuncKind::PathPrefix);
        crate::prometheus::register(&mut self, query_hook);
        self
    }

    /// Adds Alertmanager's notification template functions (`toUpper`, `toLower`, `title`,
    /// `trimSpace`, `join`, `match`, `safeHtml`, `safeUrl`, `urlUnescape`, `reReplaceAll`,
    /// `stringSlice`, `date`, `tz`, `since`, `humanizeDuration`, `toJson`); they replace
    /// same-named ones, as Alertmanager's defaults take precedence.
    pub fn with_alertmanager(mut self) -> Self {
        crate::alertmanager::register(&mut self);
        self
    }

    /// Adds (or replaces) a function.
    pub fn insert(&mut self, name: impl Into<String>, f: Func) -> &mut Self {
        self.map.insert(name.into(), FuncKind::Native(f));
        self
    }

    /// [`Funcs::insert`], builder style.
    pub fn with(mut self, name: impl Into<String>, f: Func) -> Self {
        self.insert(name, f);
        self
    }

    /// Whether a function of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&FuncKind> {
        self.map.get(name)
    }

    /// Registers a plain function (for the built-in sets).
    pub(crate) fn add(&mut self, name: &str, f: impl Fn(&[Value]) -> Result<Value, FuncError> + Send + Sync + 'static) {
        self.map.insert(name.to_owned(), FuncKind::Native(Arc::new(f)));
    }
}

/// Checks the argument count (Go's `wrong number of args for NAME: want N got M`).
pub(crate) fn arity(args: &[Value], want: usize) -> Result<(), FuncError> {
    if args.len() != want {
        return Err(FuncError::Arity(format!("want {want} got {}", args.len())));
    }
    Ok(())
}

/// Go's message when an argument is not the parameter's type.
pub(crate) fn wrong_type(expected: &str, got: &Value) -> FuncError {
    if matches!(got, Value::Nil) {
        return FuncError::ArgType(format!("invalid value; expected {expected}"));
    }
    FuncError::ArgType(format!("wrong type for value; expected {expected}; got {}", got.type_name()))
}

/// A `string` parameter.
pub(crate) fn str_arg(v: &Value) -> Result<&str, FuncError> {
    v.as_str().ok_or_else(|| wrong_type("string", v))
}

/// An `int` parameter.
pub(crate) fn int_arg(v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Int(i) | Value::Duration(i) => Ok(*i),
        _ => Err(wrong_type("int", v)),
    }
}

/// Prometheus's `convertToFloat`: a number, a numeric string or a duration (in seconds).
pub(crate) fn float_arg(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Duration(d) => Ok(*d as f64 / 1e9),
        Value::String(s) => parse_go_float(s),
        other => Err(FuncError::Failed(format!("can't convert {} to float", other.type_name()))),
    }
}

/// `strconv.ParseFloat(s, 64)`, including Go's spellings of infinities and NaN.
pub(crate) fn parse_go_float(s: &str) -> Result<f64, FuncError> {
    let t = s.replace('_', "");
    let lower = t.to_ascii_lowercase();
    let special = match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Ok(if lower.starts_with('-') { -v } else { v });
    }
    let ok = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    match t.parse::<f64>() {
        Ok(v) if ok => Ok(v),
        _ => Err(FuncError::Failed(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))),
    }
}

/// A `[]string` parameter (from `stringSlice`, `.Names`, `.Values`).
pub(crate) fn strings_arg(v: &Value) -> Result<Vec<&str>, FuncError> {
    match v {
        Value::List(l) => l.iter().map(|x| x.as_str().ok_or_else(|| wrong_type("[]string", v))).collect(),
        _ => Err(wrong_type("[]string", v)),
    }
}

/// A regular expression compiled with a small process-wide cache: rule templates call `match`
/// and `reReplaceAll` with the same few patterns on every evaluation.
pub(crate) fn regex(pattern: &str) -> Result<Arc<regex::Regex>, FuncError> {
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(r) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(pattern) {
        return Ok(r.clone());
    }
    let re = Arc::new(
        regex::Regex::new(pattern)
            .map_err(|e| FuncError::Failed(format!("error parsing regexp: {}", e.to_string().replace('\n', " "))))?,
    );
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    if c.len() >= 256 {
        c.clear();
    }
    c.insert(pattern.to_owned(), re.clone());
    Ok(re)
}
