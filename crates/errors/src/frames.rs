//! Stack frames out of `exception.stacktrace` text, for Python, Java/JVM,
//! JavaScript/Node, Go and .NET, innermost first, each marked in-app or not.
//!
//! A frame is named by its function and the file's base name, never the line number
//! or the directory: both change with every deploy (a line added above, a new release
//! directory) while the bug stays the same, and a fingerprint that moved with them
//! would open a new group per release.

use std::sync::LazyLock;

use regex::Regex;

/// One frame of a stack trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The function (with its class or package where the language names one).
    pub function: String,
    /// The source file's base name (`checkout.py`), empty when the trace has none.
    pub file: String,
    /// The line, when the trace has one (shown, never fingerprinted).
    pub line: Option<u32>,
    /// Whether the frame is the application's own code rather than a library's, the
    /// runtime's or the standard library's.
    pub in_app: bool,
}

impl Frame {
    /// `function (file:line)`, the culprit shown for a group.
    pub fn display(&self) -> String {
        match (self.file.is_empty(), self.line) {
            (true, _) => self.function.clone(),
            (false, Some(line)) => format!("{} ({}:{line})", self.function, self.file),
            (false, None) => format!("{} ({})", self.function, self.file),
        }
    }

    /// What the fingerprint hashes: function and file, no line.
    pub fn identity(&self) -> String {
        format!("{}|{}", self.function, self.file)
    }
}

static PYTHON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>\S.*))?$"#).unwrap());
static JAVA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*at (?P<func>[\w$./<>-]+)\((?P<loc>[^)]*)\)\s*$").unwrap());
static NODE_NAMED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*at (?:async )?(?:new )?(?P<func>.+?) \((?P<path>.+?):(?P<line>\d+)(?::\d+)?\)\s*$").unwrap()
});
static NODE_BARE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*at (?:async )?(?P<path>[^\s()]+?):(?P<line>\d+)(?::\d+)?\s*$").unwrap());
static DOTNET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*at (?P<func>[\w.`<>$+\[\],|]+?)\((?P<args>[^)]*)\)(?: in (?P<path>.+?):line (?P<line>\d+))?\s*$")
        .unwrap()
});
static GO_FUNC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:created by )?(?P<func>[\w./*()\[\]-]+?)(?:\((?:[^()]*)\))?(?: in goroutine \d+)?$").unwrap()
});
static GO_FILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\t(?P<path>\S+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?$").unwrap());

/// The frames of `trace`, innermost (where the exception was raised) first. Empty when
/// no line looks like a frame of a known language.
pub fn parse(trace: &str) -> Vec<Frame> {
    if trace.contains("Traceback (most recent call last)") || PYTHON.is_match(first_frame_line(trace)) {
        return python(trace);
    }
    if trace.contains("goroutine ") && trace.lines().any(|l| GO_FILE.is_match(l)) {
        return go(trace);
    }
    let mut frames = Vec::new();
    for line in trace.lines() {
        // Only the first exception's frames: a "Caused by:" (JVM) or an inner exception
        // (.NET `--->`, `--- End of inner exception stack trace ---`) is another error.
        let l = line.trim_start();
        if l.starts_with("Caused by:") || l.starts_with("--- End of inner exception") {
            break;
        }
        if let Some(f) = dotnet(line).or_else(|| java(line)).or_else(|| node(line)) {
            frames.push(f);
        }
    }
    frames
}

/// The first line starting with whitespace: a Python trace without its header.
fn first_frame_line(trace: &str) -> &str {
    trace.lines().find(|l| l.starts_with(' ')).unwrap_or("")
}

fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Python prints the outermost call first ("most recent call last"): reversed here.
/// Chained exceptions ("During handling of the above exception ...") print the cause
/// first; the raised exception is the last block, so only it is kept.
fn python(trace: &str) -> Vec<Frame> {
    let last_block = trace.rsplit("Traceback (most recent call last)").next().unwrap_or(trace);
    let mut frames: Vec<Frame> = last_block
        .lines()
        .filter_map(|l| PYTHON.captures(l))
        .map(|c| {
            let path = &c["path"];
            Frame {
                function: c.name("func").map_or("<module>", |m| m.as_str()).trim().to_string(),
                file: base_name(path).to_string(),
                line: c["line"].parse().ok(),
                in_app: python_in_app(path),
            }
        })
        .collect();
    frames.reverse();
    frames
}

fn python_in_app(path: &str) -> bool {
    !(path.contains("site-packages")
        || path.contains("dist-packages")
        || path.starts_with("/usr/lib/")
        || path.starts_with("/usr/local/lib/python")
        || path.starts_with("<frozen"))
}

fn java(line: &str) -> Option<Frame> {
    let c = JAVA.captures(line)?;
    let func = &c["func"];
    // `at java.base/java.lang.Thread.run(...)`: drop the module prefix.
    let func = func.rsplit('/').next().unwrap_or(func);
    let loc = &c["loc"];
    let (file, line_no) = match loc.split_once(':') {
        Some((f, n)) => (f, n.parse().ok()),
        None => (loc, None),
    };
    let file = if file == "Native Method" || file == "Unknown Source" { "" } else { file };
    let in_app =
        !["java.", "javax.", "sun.", "jdk.", "com.sun.", "kotlin.", "scala."].iter().any(|p| func.starts_with(p));
    Some(Frame { function: func.to_string(), file: file.to_string(), line: line_no, in_app })
}

fn node(line: &str) -> Option<Frame> {
    let (func, path, line_no) = if let Some(c) = NODE_NAMED.captures(line) {
        (c["func"].to_string(), c["path"].to_string(), c["line"].parse().ok())
    } else {
        let c = NODE_BARE.captures(line)?;
        ("<anonymous>".to_string(), c["path"].to_string(), c["line"].parse().ok())
    };
    // A Java frame also reads `at a.b(File.java:1)`, caught before this; here a path
    // without a directory or scheme is not a JavaScript location.
    if !path.contains('/') && !path.contains('\\') && !path.starts_with("node:") {
        return None;
    }
    let in_app = !(path.contains("node_modules") || path.starts_with("node:") || path.starts_with("internal/"));
    Some(Frame { function: func, file: base_name(&path).to_string(), line: line_no, in_app })
}

fn dotnet(line: &str) -> Option<Frame> {
    let c = DOTNET.captures(line)?;
    let path = c.name("path").map(|m| m.as_str());
    // Java frames have `(File.java:12)`: no spaces, a colon; .NET arguments are
    // `(Int32 amount)` or `()`, and a location is ` in PATH:line N`.
    let args = &c["args"];
    if path.is_none() && (args.contains(':') || args == "Native Method" || args == "Unknown Source") {
        return None;
    }
    if path.is_none() && !args.is_empty() && !args.contains(' ') {
        return None;
    }
    let func = c["func"].to_string();
    let in_app = !(func.starts_with("System.") || func.starts_with("Microsoft."));
    Some(Frame {
        function: func,
        file: path.map(base_name).unwrap_or("").to_string(),
        line: c.name("line").and_then(|m| m.as_str().parse().ok()),
        in_app,
    })
}

/// Go prints a function line, then its `\tFILE:LINE +0xOFF` line, innermost first, for
/// the panicking goroutine first; only that goroutine's frames are kept.
fn go(trace: &str) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut pending: Option<String> = None;
    let mut started = false;
    for line in trace.lines() {
        if line.starts_with("goroutine ") {
            if started {
                break;
            }
            started = true;
            continue;
        }
        if let Some(c) = GO_FILE.captures(line) {
            if let Some(func) = pending.take() {
                let path = &c["path"];
                // GOROOT (a Debian or official install) and the module cache are not
                // the application; `-trimpath` builds print GOROOT as `runtime/...`.
                let in_app = !(func.starts_with("runtime.")
                    || path.starts_with("runtime/")
                    || path.contains("/go/pkg/mod/")
                    || path.starts_with("/usr/lib/go")
                    || path.starts_with("/usr/local/go/"));
                frames.push(Frame {
                    function: func,
                    file: base_name(path).to_string(),
                    line: c["line"].parse().ok(),
                    in_app,
                });
            }
        } else if started && !line.trim().is_empty() && !line.starts_with('\t') {
            pending = GO_FUNC.captures(line.trim_end()).map(|c| c["func"].to_string());
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(frames: &[Frame]) -> Vec<(String, String, bool)> {
        frames.iter().map(|f| (f.function.clone(), f.file.clone(), f.in_app)).collect()
    }

    fn f(function: &str, file: &str, in_app: bool) -> (String, String, bool) {
        (function.into(), file.into(), in_app)
    }

    #[test]
    fn python_traceback_innermost_first_with_site_packages_not_in_app() {
        // As `traceback.format_exception` prints it (what the OTel Python SDK records).
        let trace = r#"Traceback (most recent call last):
  File "/srv/shop/venv/lib/python3.12/site-packages/opentelemetry/trace/__init__.py", line 589, in use_span
    yield span
  File "/srv/shop/app/checkout.py", line 42, in charge
    order = load_order(order_id)
  File "/srv/shop/app/orders.py", line 17, in load_order
    raise KeyError(f"order {order_id} not found")
KeyError: 'order 8812 not found'
"#;
        let frames = parse(trace);
        assert_eq!(
            names(&frames),
            [f("load_order", "orders.py", true), f("charge", "checkout.py", true), f("use_span", "__init__.py", false)]
        );
        assert_eq!(frames[0].line, Some(17));
        assert_eq!(frames[0].display(), "load_order (orders.py:17)");
    }

    #[test]
    fn python_chained_exceptions_keep_the_last_one() {
        let trace = r#"Traceback (most recent call last):
  File "/app/db.py", line 3, in connect
    raise OSError("refused")
OSError: refused

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/api.py", line 9, in handler
    connect()
  File "/usr/lib/python3.11/contextlib.py", line 155, in __exit__
    raise
RuntimeError: database down
"#;
        assert_eq!(names(&parse(trace)), [f("__exit__", "contextlib.py", false), f("handler", "api.py", true)]);
    }

    #[test]
    fn java_trace_stops_at_caused_by_and_marks_jdk_frames() {
        let trace = "java.lang.IllegalStateException: order 8812 is closed
\tat com.shop.checkout.OrderService.charge(OrderService.java:88)
\tat com.shop.checkout.CheckoutController.pay(CheckoutController.java:41)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)
\tat java.base/java.lang.reflect.Method.invoke(Method.java:580)
\tat sun.nio.ch.Net.connect0(Native Method)
Caused by: java.net.ConnectException: Connection refused
\tat com.shop.db.Pool.get(Pool.java:12)
";
        assert_eq!(
            names(&parse(trace)),
            [
                f("com.shop.checkout.OrderService.charge", "OrderService.java", true),
                f("com.shop.checkout.CheckoutController.pay", "CheckoutController.java", true),
                f("jdk.internal.reflect.DirectMethodHandleAccessor.invoke", "DirectMethodHandleAccessor.java", false),
                f("java.lang.reflect.Method.invoke", "Method.java", false),
                f("sun.nio.ch.Net.connect0", "", false),
            ]
        );
    }

    #[test]
    fn node_trace_with_named_anonymous_and_library_frames() {
        let trace = "TypeError: Cannot read properties of undefined (reading 'total')
    at computeTotal (/app/src/cart.js:27:18)
    at async Checkout.pay (file:///app/src/checkout.mjs:12:5)
    at /app/src/routes.js:8:3
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
";
        assert_eq!(
            names(&parse(trace)),
            [
                f("computeTotal", "cart.js", true),
                f("Checkout.pay", "checkout.mjs", true),
                f("<anonymous>", "routes.js", true),
                f("Layer.handle [as handle_request]", "layer.js", false),
                f("process.processTicksAndRejections", "task_queues", false),
            ]
        );
    }

    #[test]
    fn go_panic_keeps_the_panicking_goroutine_and_marks_runtime_frames() {
        let trace = "panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.(*Cart).Item(...)
\t/home/dev/shop/cart.go:19
main.checkout(0xc000012345, 0x5)
\t/home/dev/shop/main.go:33 +0x1d
runtime.main()
\t/usr/local/go/src/runtime/proc.go:271 +0x29e

goroutine 7 [chan receive]:
main.worker()
\t/home/dev/shop/worker.go:5 +0x10
";
        assert_eq!(
            names(&parse(trace)),
            [
                f("main.(*Cart).Item", "cart.go", true),
                f("main.checkout", "main.go", true),
                f("runtime.main", "proc.go", false)
            ]
        );
    }

    #[test]
    fn dotnet_trace_with_and_without_locations() {
        let trace = "System.InvalidOperationException: Order 8812 is closed
   at Shop.Checkout.OrderService.Charge(Int32 orderId) in /src/Shop/OrderService.cs:line 88
   at Shop.Checkout.Controller.Pay() in /src/Shop/Controller.cs:line 41
   at System.Threading.Tasks.Task.InnerInvoke()
   at Microsoft.AspNetCore.Routing.EndpointMiddleware.Invoke(HttpContext httpContext)
";
        assert_eq!(
            names(&parse(trace)),
            [
                f("Shop.Checkout.OrderService.Charge", "OrderService.cs", true),
                f("Shop.Checkout.Controller.Pay", "Controller.cs", true),
                f("System.Threading.Tasks.Task.InnerInvoke", "", false),
                f("Microsoft.AspNetCore.Routing.EndpointMiddleware.Invoke", "", false),
            ]
        );
    }

    #[test]
    fn text_that_is_not_a_trace_has_no_frames() {
        assert!(parse("").is_empty());
        assert!(parse("connection refused after 3 attempts").is_empty());
        assert!(parse("at noon (the meeting)").is_empty());
    }
}
