//! `$(VAR)` references in a container's `command`, `args` and `env` values, expanded
//! the way the kubelet expands them.
//!
//! The rules (Kubernetes' `expansion` package, which every node applies):
//!
//! - `$(NAME)` is replaced by the value of `NAME` when it is defined; an undefined
//!   reference is left as written, parentheses included.
//! - `$$` is an escaped `$`: it becomes one `$` and the character after it is not an
//!   operator, so `$$(NAME)` yields the text `$(NAME)`.
//! - An unterminated `$(` and a `$` followed by anything else (`$NAME`, `${NAME}`, a `$`
//!   at the end) are copied unchanged. A name runs to the first `)`; references do not
//!   nest, and an expanded value is not expanded again.
//!
//! Which variables a string sees is the caller's choice, and for a container it is
//! ordered ([`expand_env`]): each `env` value sees only the variables defined before it,
//! while `command` and `args` see the whole environment ([`expand_with`]).

use std::collections::HashMap;

const OPERATOR: u8 = b'$';
const OPENER: u8 = b'(';
const CLOSER: u8 = b')';

/// Expands the `$(NAME)` references in `input`, looking each name up with `lookup`
/// (`None`: the reference is left as written).
pub fn expand<'a>(input: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    // Everything before `checkpoint` has been written to `out`. Every split below is
    // at an ASCII byte, so each slice is valid UTF-8.
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor + 1 < bytes.len() {
        if bytes[cursor] != OPERATOR {
            cursor += 1;
            continue;
        }
        out.push_str(&input[checkpoint..cursor]);
        let rest = &input[cursor + 1..];
        let consumed = match rest.as_bytes()[0] {
            OPERATOR => {
                out.push('$');
                1
            }
            OPENER => match rest.bytes().position(|b| b == CLOSER) {
                Some(close) => {
                    let name = &rest[1..close];
                    match lookup(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    close + 1
                }
                None => {
                    // Unterminated: keep `$(` and go on scanning after it.
                    out.push_str("$(");
                    1
                }
            },
            // `$` before anything else: kept; the next byte is copied with the rest.
            _ => {
                out.push('$');
                0
            }
        };
        cursor += consumed + 1;
        checkpoint = cursor;
    }
    out.push_str(&input[checkpoint..]);
    out
}

/// Expands `input` against `vars`, where a name defined twice has its last value (as
/// in a container's environment).
pub fn expand_with(input: &str, vars: &[(String, String)]) -> String {
    let map: HashMap<&str, &str> = vars
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    expand(input, |name| map.get(name).copied())
}

/// An `env` entry's value: written in the manifest (expanded), or read from a
/// ConfigMap or Secret (taken as it is, as the kubelet takes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// A literal `value`, whose references are expanded.
    Expand(String),
    /// A value read from an object, never expanded.
    Keep(String),
}

impl From<String> for EnvValue {
    fn from(value: String) -> Self {
        Self::Expand(value)
    }
}

/// Expands a container's `env` values in order, as the kubelet does: each value sees
/// the variables in `defined` (e.g. those from `envFrom`, taken literally) and the
/// entries of `env` before it; a later definition of a name replaces an earlier one
/// in what follows. Returns `defined` followed by the expanded `env`.
pub fn expand_env<V: Into<EnvValue>>(
    defined: Vec<(String, String)>,
    env: impl IntoIterator<Item = (String, V)>,
) -> Vec<(String, String)> {
    let mut seen: HashMap<String, String> = defined.iter().cloned().collect();
    let mut out = defined;
    for (name, value) in env {
        let value = match value.into() {
            EnvValue::Expand(text) => expand(&text, |n| seen.get(n).map(String::as_str)),
            EnvValue::Keep(text) => text,
        };
        seen.insert(name.clone(), value.clone());
        out.push((name, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The kubelet's table (`expand_test.go`, `doExpansionTest`), case by case.
    const CASES: &[(&str, &str, &str)] = &[
        ("whole string", "$(VAR_A)", "A"),
        ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
        ("beginning", "$(VAR_A)-1", "A-1"),
        ("middle", "___$(VAR_B)___", "___B___"),
        ("end", "___$(VAR_C)", "___C"),
        ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
        ("escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
        (
            "compound escape",
            "$$(VAR_A)_$$(VAR_B)",
            "$(VAR_A)_$(VAR_B)",
        ),
        ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
        ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
        (
            "backslash escape ignored",
            "foo\\\\$(VAR_C)bar",
            "foo\\\\Cbar",
        ),
        (
            "lots of backslashes",
            "foo\\\\\\\\$(VAR_A)bar",
            "foo\\\\\\\\Abar",
        ),
        (
            "nested var references",
            "$(VAR_A$(VAR_B))",
            "$(VAR_A$(VAR_B))",
        ),
        (
            "nested var references second type",
            "$(VAR_A$(VAR_B)",
            "$(VAR_A$(VAR_B)",
        ),
        ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
        (
            "value is a reference x 2",
            "%%$(VAR_REF)--$(VAR_REF)%%",
            "%%$(VAR_A)--$(VAR_A)%%",
        ),
        ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
        (
            "unterminated expression",
            "foo$(VAR_Awhoops!",
            "foo$(VAR_Awhoops!",
        ),
        (
            "expression without operator",
            "f00__(VAR_A)__",
            "f00__(VAR_A)__",
        ),
        ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
        ("bare operators are ignored", "$VAR_A", "$VAR_A"),
        (
            "undefined vars are passed through",
            "$(VAR_DNE)",
            "$(VAR_DNE)",
        ),
        (
            "multiple (even) operators, var undefined",
            "$$$$$$(BIG_MONEY)",
            "$$$(BIG_MONEY)",
        ),
        (
            "multiple (even) operators, var defined",
            "$$$$$$(VAR_A)",
            "$$$(VAR_A)",
        ),
        (
            "multiple (odd) operators, var undefined",
            "$$$$$$$(GOOD_ODDS)",
            "$$$$(GOOD_ODDS)",
        ),
        (
            "multiple (odd) operators, var defined",
            "$$$$$$$(VAR_A)",
            "$$$A",
        ),
        ("missing open expression", "$VAR_A)", "$VAR_A)"),
        ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
        (
            "trailing incomplete expression not consumed",
            "$(VAR_B)_______$(A",
            "B_______$(A",
        ),
        (
            "trailing incomplete expression, no content, is not consumed",
            "$(VAR_C)_______$(",
            "C_______$(",
        ),
        (
            "operator at end of input string is preserved",
            "$(VAR_A)foobarzab$",
            "Afoobarzab$",
        ),
        (
            "shell escaped incomplete expr",
            "foo-\\$(VAR_A",
            "foo-\\$(VAR_A",
        ),
        ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
        (
            "lots of $( in beginning",
            "$($($($($--foo$(",
            "$($($($($--foo$(",
        ),
        ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
        (
            "escaped operators in variable names are not escaped",
            "$(foo$$var)",
            "$(foo$$var)",
        ),
        ("newline not expanded", "\n", "\n"),
    ];

    type Context = &'static [(&'static str, &'static str)];

    /// Runs the table with names looked up in `contexts`, first match wins (the
    /// kubelet's `MappingFuncFor(context...)`).
    fn check_table(contexts: &[Context]) {
        let lookup = |name: &str| {
            contexts
                .iter()
                .find_map(|vars| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
        };
        for (name, input, expected) in CASES {
            assert_eq!(
                expand(input, lookup),
                *expected,
                "kubelet case {name:?}: {input:?}"
            );
        }
    }

    #[test]
    fn every_case_of_the_kubelets_table_expands_as_on_a_node() {
        check_table(&[&[
            ("VAR_A", "A"),
            ("VAR_B", "B"),
            ("VAR_C", "C"),
            ("VAR_REF", "$(VAR_A)"),
            ("VAR_EMPTY", ""),
        ]]);
    }

    #[test]
    fn the_table_holds_when_the_variables_come_from_two_contexts() {
        check_table(&[
            &[("VAR_A", "A"), ("VAR_EMPTY", "")],
            &[("VAR_B", "B"), ("VAR_C", "C"), ("VAR_REF", "$(VAR_A)")],
        ]);
    }

    /// The kubelet's `TestMapReference`: each value sees the ones before it.
    #[test]
    fn env_values_are_expanded_in_order_against_the_earlier_ones() {
        let env = vars(&[("FOO", "bar"), ("ZOO", "$(FOO)-1"), ("BLU", "$(ZOO)-2")]);
        let out = expand_env(Vec::new(), env);
        assert_eq!(
            out,
            vars(&[("FOO", "bar"), ("ZOO", "bar-1"), ("BLU", "bar-1-2")])
        );
    }

    #[test]
    fn an_env_value_does_not_see_a_variable_defined_after_it() {
        let env = vars(&[("EARLY", "$(LATE)"), ("LATE", "x")]);
        let out = expand_env(Vec::new(), env);
        assert_eq!(
            out[0].1, "$(LATE)",
            "a forward reference is left as written"
        );
    }

    #[test]
    fn env_values_see_the_variables_defined_before_the_list_and_redefinitions() {
        let defined = vars(&[("FROM_MAP", "m")]);
        let env = vars(&[
            ("A", "$(FROM_MAP)"),
            ("FROM_MAP", "n"),
            ("B", "$(FROM_MAP)"),
        ]);
        let out = expand_env(defined, env);
        assert_eq!(
            out,
            vars(&[("FROM_MAP", "m"), ("A", "m"), ("FROM_MAP", "n"), ("B", "n")])
        );
    }

    #[test]
    fn a_value_read_from_an_object_is_not_expanded() {
        let env = vec![
            ("A".to_owned(), EnvValue::Expand("a".to_owned())),
            ("B".to_owned(), EnvValue::Keep("$(A)".to_owned())),
            ("C".to_owned(), EnvValue::Expand("$(B)".to_owned())),
        ];
        let out = expand_env(Vec::new(), env);
        assert_eq!(out, vars(&[("A", "a"), ("B", "$(A)"), ("C", "$(A)")]));
    }

    #[test]
    fn command_arguments_see_the_last_definition_of_a_name() {
        let env = vars(&[("PORT", "1"), ("K_REVISION", "r-00001"), ("PORT", "8080")]);
        assert_eq!(
            expand_with("--port=$(PORT) --rev=$(K_REVISION)", &env),
            "--port=8080 --rev=r-00001"
        );
    }

    #[test]
    fn non_ascii_text_around_references_is_kept() {
        let env = vars(&[("X", "é")]);
        assert_eq!(expand_with("ü$€$(X)ß$", &env), "ü$€éß$");
    }
}
