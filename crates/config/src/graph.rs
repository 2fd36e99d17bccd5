//! The component graph: inputs must name something that exists, and no cycles.

use std::collections::HashMap;

use crate::error::{ConfigError, ConfigErrors, Position};
use crate::pipeline::{ComponentKind, InputRef};

/// What the graph check needs to know of a component.
#[derive(Debug, Clone)]
pub struct GraphNode {
    /// Its name.
    pub name: String,
    /// Its section.
    pub kind: ComponentKind,
    /// Where it is declared.
    pub position: Position,
    /// Its inputs.
    pub inputs: Vec<InputRef>,
    /// Named outputs (`route` has one per route plus `_unmatched`).
    pub named_outputs: Vec<String>,
    /// Whether `inputs: [name]` (no `.output`) is valid.
    pub has_default_output: bool,
}

/// Why an input reference does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// It names a sink.
    #[error("input `{input}` is a sink; inputs must be sources or transforms")]
    IsSink {
        /// The reference as written.
        input: String,
    },
    /// It names a component that has only named outputs.
    #[error("`{input}` has no default output; use one of: {}", qualified(.input, .outputs))]
    NoDefaultOutput {
        /// The reference as written.
        input: String,
        /// The component's named outputs.
        outputs: Vec<String>,
    },
    /// `name.output` where `name` has no named outputs.
    #[error("`{base}` has no named outputs")]
    NoNamedOutputs {
        /// The component name.
        base: String,
    },
    /// `name.output` where `name` has other named outputs.
    #[error("`{base}` has no output `{output}`; it has: {}", .outputs.join(", "))]
    NoSuchOutput {
        /// The component name.
        base: String,
        /// The output asked for.
        output: String,
        /// The component's named outputs.
        outputs: Vec<String>,
    },
    /// Nothing by that name.
    #[error("input `{input}` does not name a source or transform")]
    Unknown {
        /// The reference as written.
        input: String,
    },
}

/// `` `name.a`, `name.b` ``.
fn qualified(name: &str, outputs: &[String]) -> String {
    outputs.iter().map(|o| format!("`{name}.{o}`")).collect::<Vec<_>>().join(", ")
}

/// Resolves an input reference against the nodes: returns (node index, named output).
pub fn resolve<'a>(nodes: &'a [GraphNode], input: &str) -> Result<(usize, Option<&'a str>), InputError> {
    let by_name = |n: &str| nodes.iter().position(|x| x.name == n);
    let is_sink = || InputError::IsSink { input: input.to_string() };
    if let Some(i) = by_name(input) {
        let node = &nodes[i];
        if node.kind == ComponentKind::Sink {
            return Err(is_sink());
        }
        if !node.has_default_output {
            return Err(InputError::NoDefaultOutput { input: input.to_string(), outputs: node.named_outputs.clone() });
        }
        return Ok((i, None));
    }
    if let Some((base, output)) = input.rsplit_once('.')
        && let Some(i) = by_name(base)
    {
        let node = &nodes[i];
        if node.kind == ComponentKind::Sink {
            return Err(is_sink());
        }
        return match node.named_outputs.iter().find(|o| *o == output) {
            Some(o) => Ok((i, Some(o.as_str()))),
            None if node.named_outputs.is_empty() => Err(InputError::NoNamedOutputs { base: base.to_string() }),
            None => Err(InputError::NoSuchOutput {
                base: base.to_string(),
                output: output.to_string(),
                outputs: node.named_outputs.clone(),
            }),
        };
    }
    Err(InputError::Unknown { input: input.to_string() })
}

/// Checks that every input resolves, that transforms and sinks have inputs, and that
/// the transforms form no cycle.
pub fn check_graph(nodes: &[GraphNode]) -> Result<(), ConfigErrors> {
    let mut errors = Vec::new();
    let mut edges: HashMap<usize, Vec<(usize, Position)>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if node.kind != ComponentKind::Source && node.inputs.is_empty() {
            errors.push(ConfigError::new(
                node.position.clone(),
                format!("{} `{}` has no `inputs`", node.kind.as_str(), node.name),
            ));
        }
        for input in &node.inputs {
            match resolve(nodes, &input.name) {
                Ok((from, _)) => edges.entry(i).or_default().push((from, input.position.clone())),
                Err(e) => errors.push(ConfigError::new(input.position.clone(), e.to_string())),
            }
        }
    }
    // Depth-first search over "depends on" edges; a grey node met again closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        White,
        Grey,
        Black,
    }
    let mut marks = vec![Mark::White; nodes.len()];
    let mut reported = false;
    fn visit(
        i: usize,
        edges: &HashMap<usize, Vec<(usize, Position)>>,
        marks: &mut [Mark],
        stack: &mut Vec<usize>,
    ) -> Option<(Vec<usize>, Position)> {
        marks[i] = Mark::Grey;
        stack.push(i);
        for (from, at) in edges.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            match marks[*from] {
                Mark::Grey => {
                    let start = stack.iter().position(|x| x == from).unwrap_or(0);
                    return Some((stack[start..].to_vec(), at.clone()));
                }
                Mark::White => {
                    if let Some(c) = visit(*from, edges, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Black => {}
            }
        }
        stack.pop();
        marks[i] = Mark::Black;
        None
    }
    for i in 0..nodes.len() {
        if marks[i] == Mark::White && !reported {
            let mut stack = Vec::new();
            if let Some((cycle, at)) = visit(i, &edges, &mut marks, &mut stack) {
                let mut names: Vec<&str> = cycle.iter().rev().map(|&n| nodes[n].name.as_str()).collect();
                names.push(names[0]);
                errors.push(ConfigError::new(at, format!("cycle in the pipeline: {}", names.join(" -> "))));
                reported = true;
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ConfigErrors(errors).sorted()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn p(line: u64) -> Position {
        Position { file: Arc::from("p.yaml"), line, column: 1 }
    }

    fn node(name: &str, kind: ComponentKind, line: u64, inputs: &[&str]) -> GraphNode {
        GraphNode {
            name: name.into(),
            kind,
            position: p(line),
            inputs: inputs.iter().map(|i| InputRef { name: i.to_string(), position: p(line + 1) }).collect(),
            named_outputs: vec![],
            has_default_output: true,
        }
    }

    #[test]
    fn finds_missing_inputs_and_cycles() {
        use ComponentKind::*;
        let mut route = node("r", Transform, 30, &["in"]);
        route.named_outputs = vec!["errors".into(), "_unmatched".into()];
        route.has_default_output = false;
        let nodes = vec![
            node("in", Source, 1, &[]),
            node("a", Transform, 10, &["in", "b"]),
            node("b", Transform, 20, &["a"]),
            route,
            node("s1", Sink, 40, &["r.errors", "nope"]),
            node("s2", Sink, 50, &["r"]),
            node("s3", Sink, 60, &["r.bogus", "s1"]),
        ];
        let err = check_graph(&nodes).unwrap_err().to_string();
        assert!(
            err.contains(":1: cycle in the pipeline: b -> a -> b")
                || err.contains(":1: cycle in the pipeline: a -> b -> a"),
            "{err}"
        );
        assert!(err.contains("p.yaml:41:1: input `nope` does not name a source or transform"), "{err}");
        assert!(
            err.contains("p.yaml:51:1: `r` has no default output; use one of: `r.errors`, `r._unmatched`"),
            "{err}"
        );
        assert!(err.contains("p.yaml:61:1: `r` has no output `bogus`"), "{err}");
        assert!(err.contains("input `s1` is a sink"), "{err}");
    }

    #[test]
    fn accepts_a_dag() {
        use ComponentKind::*;
        let nodes =
            vec![node("in", Source, 1, &[]), node("a", Transform, 10, &["in"]), node("s", Sink, 20, &["a", "in"])];
        check_graph(&nodes).unwrap();
    }
}
