//! Scenario errors: a list of problems, each naming where it is.
//!
//! A problem's `path` is the scenario path of the field (`areas[1].children[3].pv.capacity_kw`);
//! for a profile file the message starts with `FILE:LINE:`. Loading collects problems instead of
//! stopping at the first one, so one run of `nestgrid validate` shows as much as it can; the list
//! is capped at [`MAX_PROBLEMS`] and duplicates (a template's mistake seen from every use) are
//! reported once.

use std::collections::HashSet;
use std::fmt;

/// Most problems one load reports; the rest are counted in a last line.
pub const MAX_PROBLEMS: usize = 100;

/// One thing wrong with a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Problem {
    /// Where: the scenario path of the field (`simulation.tick_length`), or the file for problems
    /// that are about the whole file (YAML syntax).
    pub path: String,
    /// What is wrong, in lower case, without a trailing full stop.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            formatter.write_str(&self.message)
        } else {
            write!(formatter, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a scenario could not be loaded: one or more problems, displayed one per line as
/// `<path>: <message>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The problems in the order they were found (at most [`MAX_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// Problems found beyond [`MAX_PROBLEMS`] and not listed.
    pub more: usize,
}

impl ScenarioError {
    /// An error with a single problem.
    pub fn single(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            problems: vec![Problem {
                path: path.into(),
                message: message.into(),
            }],
            more: 0,
        }
    }

    /// The problems' lines as `<path>: <message>` (what `Display` joins with newlines).
    pub fn lines(&self) -> Vec<String> {
        self.problems.iter().map(Problem::to_string).collect()
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                formatter.write_str("\n")?;
            }
            write!(formatter, "{problem}")?;
        }
        if self.more > 0 {
            write!(formatter, "\n... and {} more problems", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Collects problems while a scenario is checked.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<Problem>,
    seen: HashSet<Problem>,
    more: usize,
}

impl Problems {
    /// Records a problem at `path` (deduplicated, capped).
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let problem = Problem {
            path: path.into(),
            message: message.into(),
        };
        if self.seen.contains(&problem) {
            return;
        }
        if self.list.len() >= MAX_PROBLEMS {
            self.more += 1;
            return;
        }
        self.seen.insert(problem.clone());
        self.list.push(problem);
    }

    /// Number of problems recorded so far.
    pub fn len(&self) -> usize {
        self.list.len() + self.more
    }

    /// `Err` with every problem if there is one.
    pub fn into_result(self) -> Result<(), ScenarioError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(ScenarioError {
                problems: self.list,
                more: self.more,
            })
        }
    }
}

/// `parent.field`, or `field` at the top level.
pub(crate) fn join_field(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// `parent[index]`.
pub(crate) fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_one_line_per_problem() {
        let mut problems = Problems::default();
        problems.push("a.b", "must be greater than 0");
        problems.push("a.b", "must be greater than 0");
        problems.push("c", "unknown field `d`");
        let error = problems.into_result().unwrap_err();
        assert_eq!(
            error.to_string(),
            "a.b: must be greater than 0\nc: unknown field `d`"
        );
    }

    #[test]
    fn caps_the_list() {
        let mut problems = Problems::default();
        for index in 0..MAX_PROBLEMS + 3 {
            problems.push(join_index("areas", index), "bad");
        }
        let error = problems.into_result().unwrap_err();
        assert_eq!(error.problems.len(), MAX_PROBLEMS);
        assert!(error.to_string().ends_with("... and 3 more problems"));
    }

    #[test]
    fn joins_paths() {
        assert_eq!(join_field("", "areas"), "areas");
        assert_eq!(join_field("areas[1]", "pv"), "areas[1].pv");
        assert_eq!(join_index("areas", 2), "areas[2]");
    }
}
