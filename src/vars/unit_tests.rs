//! Behaviour a playbook author relies on, with Ansible's documented outputs.

use super::*;
use minijinja::value::Serde;
use serde_json::json;

fn val(j: serde_json::Value) -> Value {
    Value::from(Serde(j))
}

fn scope_of(t: &Arc<Templar>, vars: serde_json::Value) -> Value {
    scope(t, vec![val(vars)], val(json!({})))
}

/// Renders `src` (text or lone expression) with `vars`; the result as Python would print it.
fn render(src: &str, vars: serde_json::Value) -> String {
    let t = Templar::new();
    let s = scope_of(&t, vars);
    match t.template_value(&Value::from(src), &s) {
        Ok(v) => crate::vocab::python_str(&v),
        Err(e) => panic!("{src}: {e}"),
    }
}

fn native(src: &str, vars: serde_json::Value) -> serde_json::Value {
    let t = Templar::new();
    let s = scope_of(&t, vars);
    let v = t
        .template_value(&Value::from(src), &s)
        .unwrap_or_else(|e| panic!("{src}: {e}"));
    serde_json::to_value(&v).expect("serialisable")
}

fn error(src: &str, vars: serde_json::Value) -> TemplateError {
    let t = Templar::new();
    let s = scope_of(&t, vars);
    match t.template_value(&Value::from(src), &s) {
        Ok(v) => panic!("{src}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

fn cond(expr: &str, vars: serde_json::Value) -> Result<bool, TemplateError> {
    let t = Templar::new();
    let s = scope_of(&t, vars);
    t.eval_bool(expr, &s)
}

// ---- native values, text, settings ----

#[test]
fn lone_expression_keeps_its_native_type() {
    assert_eq!(native("{{ xs }}", json!({"xs": [1, 2]})), json!([1, 2]));
    assert_eq!(native("{{ n + 1 }}\n", json!({"n": 41})), json!("42\n"));
    assert_eq!(
        native("{{ m }}", json!({"m": {"a": true}})),
        json!({"a": true})
    );
    assert_eq!(native("{{ flag }}", json!({"flag": false})), json!(false));
    assert_eq!(native("{{- n -}}", json!({"n": 3})), json!(3));
}

#[test]
fn mixed_text_renders_to_a_string_the_python_way() {
    assert_eq!(native("n={{ n }}", json!({"n": 3})), json!("n=3"));
    assert_eq!(render("{{ a }}-{{ b }}", json!({"a": 1, "b": 2})), "1-2");
    assert_eq!(render("x {{ f }}", json!({"f": true})), "x True");
    assert_eq!(render("x {{ n }}", json!({"n": null})), "x None");
    assert_eq!(
        render("x {{ l }}", json!({"l": ["a", 1, {"k": "v"}]})),
        "x ['a', 1, {'k': 'v'}]"
    );
}

#[test]
fn deep_templating_renders_strings_inside_lists_and_maps() {
    let t = Templar::new();
    let s = scope_of(&t, json!({"port": 8080, "host": "h1"}));
    let v = val(json!({"url": "http://{{ host }}:{{ port }}", "ports": ["{{ port }}", 1], "k": 2}));
    let out = t.template_value(&v, &s).expect("renders");
    assert_eq!(
        serde_json::to_value(&out).expect("json"),
        json!({"url": "http://h1:8080", "ports": [8080, 1], "k": 2})
    );
}

#[test]
fn unsafe_strings_are_never_templated() {
    let t = Templar::new();
    let s = scope_of(&t, json!({}));
    let v = crate::yaml::unsafe_value("{{ not_a_var }}");
    let out = t.template_value(&v, &s).expect("untouched");
    assert_eq!(out.as_str(), Some("{{ not_a_var }}"));
}

#[test]
fn strings_without_markers_are_returned_as_is() {
    assert_eq!(native("plain text } {", json!({})), json!("plain text } {"));
}

#[test]
fn trim_blocks_for_loop_with_loop_index_and_last() {
    let t = Templar::new();
    let s = scope_of(&t, json!({"hosts": ["a", "b", "c"]}));
    let text = "servers:\n{% for h in hosts %}\n  - {{ loop.index }}:{{ h }}{% if not loop.last %},{% endif %}\n\n{% endfor %}\nend\n";
    let out = t.render_text(text, "t.j2", &s).expect("renders");
    // trim_blocks eats the newline after each block tag (`{% endif %}`, `{% endfor %}`), not
    // after `{{ }}`; this is what Ansible writes.
    assert_eq!(out, "servers:\n  - 1:a,\n  - 2:b,\n  - 3:c\nend\n");
}

#[test]
fn whitespace_control_and_trailing_newline() {
    let t = Templar::new();
    let s = scope_of(&t, json!({"x": 1}));
    let out = t
        .render_text("a\n  {%- if x %} yes{% endif %}\nb", "t.j2", &s)
        .expect("renders");
    assert_eq!(out, "a yesb");
    let out = t.render_text("{{ x }}\n", "t.j2", &s).expect("renders");
    assert_eq!(out, "1\n");
}

#[test]
fn text_around_a_lone_expression_is_kept() {
    assert_eq!(render("{{ x }}\n", json!({"x": "root"})), "root\n");
    // As in Ansible 2.19: text around the expression makes the whole result text.
    assert_eq!(native("{{ x }}\n", json!({"x": [1]})), json!("[1]\n"));
}

#[test]
fn python_methods_including_iteritems() {
    let vars = json!({"m": {"a": 1, "b": 2}, "s": " a,b ", "p": "/etc/x"});
    assert_eq!(
        render(
            "{% for k, v in m.iteritems() %}{{ k }}={{ v }};{% endfor %}",
            vars.clone()
        ),
        "a=1;b=2;"
    );
    assert_eq!(render("{{ m.items() | list | length }}", vars.clone()), "2");
    assert_eq!(render("{{ m.keys() | list }}", vars.clone()), "['a', 'b']");
    assert_eq!(
        render("{{ s.strip().split(',') }}", vars.clone()),
        "['a', 'b']"
    );
    assert_eq!(render("{{ p.startswith('/etc') }}", vars.clone()), "True");
    assert_eq!(render("{{ p.find('x') }}", vars.clone()), "5");
    assert_eq!(render("{{ m.get('c', 9) }}", vars.clone()), "9");
    assert_eq!(render("{{ m.has_key('a') }}", vars), "True");
}

#[test]
fn subscripts_by_key_and_index() {
    let vars = json!({"x": {"k": "v"}, "l": ["zero", "one"]});
    assert_eq!(render("{{ x['k'] }}", vars.clone()), "v");
    assert_eq!(render("{{ l.0 }} {{ l[1] }}", vars), "zero one");
}

// ---- scope: precedence, laziness ----

#[test]
fn higher_layer_wins_and_magic_wins_over_all() {
    let t = Templar::new();
    let s = scope(
        &t,
        vec![
            val(json!({"a": "low", "b": "low", "inventory_hostname": "fake"})),
            val(json!({"a": "high"})),
        ],
        val(json!({"inventory_hostname": "web1"})),
    );
    let out = t
        .template_value(&Value::from("{{ a }} {{ b }} {{ inventory_hostname }}"), &s)
        .expect("renders");
    assert_eq!(out.as_str(), Some("high low web1"));
}

#[test]
fn a_variable_may_reference_a_lower_precedence_one() {
    let t = Templar::new();
    let s = scope(
        &t,
        vec![
            val(json!({"base": "/opt", "dir": "unused"})),
            val(json!({"dir": "{{ base }}/app", "bin": "{{ dir }}/bin"})),
        ],
        val(json!({})),
    );
    let out = t
        .template_value(&Value::from("{{ bin }}"), &s)
        .expect("renders");
    assert_eq!(out.as_str(), Some("/opt/app/bin"));
}

#[test]
fn an_unused_variable_referencing_an_undefined_one_does_not_fail() {
    assert_eq!(
        render("{{ ok }}", json!({"ok": "fine", "broken": "{{ nowhere }}"})),
        "fine"
    );
}

#[test]
fn lazily_undefined_variable_reports_the_missing_one_and_counts_as_undefined() {
    let vars = json!({"outer": "{{ inner_missing }}/x"});
    let e = error("{{ outer }}", vars.clone());
    assert_eq!(e.undefined.as_deref(), Some("inner_missing"), "{}", e.msg);
    assert_eq!(render("{{ outer | default('d') }}", vars.clone()), "d");
    assert_eq!(render("{{ outer is defined }}", vars), "False");
}

#[test]
fn reference_loops_are_reported() {
    let e = error("{{ a }}", json!({"a": "{{ b }}", "b": "{{ a }}"}));
    assert!(e.msg.contains("recursive loop"), "{}", e.msg);
}

#[test]
fn scope_can_be_enumerated_through_vars() {
    let out = render(
        "{{ vars | list | sort | join(',') }} {{ vars['x'] }}",
        json!({"x": "{{ y }}", "y": 2}),
    );
    assert_eq!(out, "x,y 2");
}

#[test]
fn hostvars_resolve_lazily_and_list_host_names() {
    let t = Templar::new();
    let t2 = t.clone();
    let resolver: HostResolver = Arc::new(move |h: &str| {
        (h == "db1").then(|| {
            scope(
                &t2,
                vec![val(
                    json!({"ansible_host": "10.0.0.5", "port": "{{ 5000 + 432 }}"}),
                )],
                val(json!({"inventory_hostname": "db1"})),
            )
        })
    });
    let hv = hostvars(resolver, vec!["db1".into(), "db2".into()]);
    let s = scope(
        &t,
        vec![val(json!({"h": "db1"}))],
        Value::from_pairs([("hostvars", hv)]),
    );
    let out = t
        .template_value(
            &Value::from("{{ hostvars[h]['ansible_host'] }}:{{ hostvars['db1'].port }} {{ hostvars | list }} {{ hostvars['db2'] is defined }} {{ [h] | map('extract', hostvars, 'port') | join }}"),
            &s,
        )
        .expect("renders");
    assert_eq!(
        out.as_str(),
        Some("10.0.0.5:5432 ['db1', 'db2'] False 5432")
    );
}

#[test]
fn lazy_map_templates_on_access() {
    let t = Templar::new();
    let s = scope_of(&t, json!({"v": 7}));
    let m = lazy_map(
        &t,
        val(json!({"a": "{{ v * 2 }}", "b": "{{ missing }}"})),
        s.clone(),
    );
    let s2 = scope(&t, vec![Value::from_pairs([("m", m)])], val(json!({})));
    let out = t
        .template_value(&Value::from("{{ m.a }}"), &s2)
        .expect("renders");
    assert_eq!(out.as_i64(), Some(14));
}

// ---- undefined semantics ----

#[test]
fn undefined_errors_name_the_variable() {
    let e = error("{{ foo }}", json!({}));
    assert_eq!(e.undefined.as_deref(), Some("foo"));
    assert!(e.msg.contains("'foo' is undefined"), "{}", e.msg);
    let e = error("x {{ foo | upper }} y", json!({}));
    assert_eq!(e.undefined.as_deref(), Some("foo"), "{}", e.msg);
}

#[test]
fn missing_attribute_names_the_path() {
    let e = error("{{ foo.bar }}", json!({"foo": {"baz": 1}}));
    assert_eq!(e.undefined.as_deref(), Some("foo.bar"), "{}", e.msg);
}

#[test]
fn default_and_defined_tests_handle_undefined() {
    let vars = json!({"x": {"k": 1}, "empty": ""});
    assert_eq!(render("{{ nope | default('y') }}", vars.clone()), "y");
    assert_eq!(render("{{ nope | d('y') }}", vars.clone()), "y");
    assert_eq!(
        render("{{ empty | default('y', true) }}", vars.clone()),
        "y"
    );
    assert_eq!(render("{{ empty | default('y') }}", vars.clone()), "");
    assert_eq!(render("{{ nope is defined }}", vars.clone()), "False");
    assert_eq!(render("{{ nope is undefined }}", vars.clone()), "True");
    assert_eq!(
        render("{{ x.k is defined }} {{ x.z is defined }}", vars.clone()),
        "True False"
    );
    assert_eq!(render("{{ x.z | default(5) }}", vars), "5");
}

#[test]
fn when_on_undefined_is_an_error_not_false() {
    for expr in [
        "nope",
        "not nope",
        "nope == 'x'",
        "nope in ['a']",
        "'a' in nope",
        "nope | bool",
    ] {
        let e = cond(expr, json!({})).expect_err(expr);
        assert_eq!(e.undefined.as_deref(), Some("nope"), "{expr}: {}", e.msg);
    }
    let e = cond("nope | length > 0", json!({})).expect_err("length of undefined");
    assert_eq!(e.undefined.as_deref(), Some("nope"), "{}", e.msg);
    assert!(!cond("nope is defined and nope", json!({})).expect("short-circuits"));
}

#[test]
fn chained_paths_through_missing_parents_are_undefined_not_errors() {
    let vars = json!({"x": {"y": {"z": 1}}});
    assert!(!cond("nope.a.b is defined", vars.clone()).expect("chain"));
    assert!(cond("nope.a is undefined and x.q.r is not defined", vars.clone()).expect("chain"));
    assert!(cond("x.y.z is defined and x['y'].z == 1", vars.clone()).expect("chain"));
    assert_eq!(
        render(
            "{{ x.q.r | default('d') }} {{ x.y.z | d(0) }}",
            vars.clone()
        ),
        "d 1"
    );
    assert_eq!(
        render(
            "{% if nope.a is defined %}yes{% else %}no{% endif %}",
            vars.clone()
        ),
        "no"
    );
    // Reading (not testing) a missing chain still fails, naming where it broke.
    let e = error("{{ x.q.r }}", vars);
    assert_eq!(e.undefined.as_deref(), Some("x.q"), "{}", e.msg);
}

#[test]
fn when_conditions_bare_and_legacy() {
    let vars = json!({"a": true, "s": "false", "n": 3, "l": [1]});
    assert!(cond("a", vars.clone()).unwrap());
    assert!(cond("n > 2 and a", vars.clone()).unwrap());
    assert!(!cond("n in [1, 2]", vars.clone()).unwrap());
    assert!(cond("1 in l", vars.clone()).unwrap());
    assert!(cond("{{ a }}", vars.clone()).unwrap());
    assert!(!cond("{{ s }}", vars.clone()).unwrap());
    assert!(!cond("s | bool", vars.clone()).unwrap());
    assert!(cond("'x' not in l", vars).unwrap());
}

// ---- syntax checks ----

#[test]
fn syntax_errors_report_the_line() {
    assert!(check_syntax("ok {{ x }}\n{% for %}").is_err());
    let SyntaxError { msg, line } = check_syntax("line1\nline2 {{ x \n").expect_err("broken");
    assert_eq!(line, 2, "{msg}");
    assert!(check_syntax("{% if a %}x{% endif %}").is_ok());
    assert!(check_expr_syntax("a and (b or").is_err());
    assert!(check_expr_syntax("a is defined and b | bool").is_ok());
    assert!(check_expr_syntax("{{ a }}").is_ok());
    assert!(check_expr_syntax("{{ a }} == {{ b }}").is_ok());
    assert!(check_expr_syntax("{{ a ( }}").is_err());
}

#[test]
fn runtime_errors_in_files_name_file_and_line() {
    let t = Templar::new();
    let s = scope_of(&t, json!({}));
    let e = t
        .render_text("ok\n{{ 1 + [] }}\n", "roles/x/templates/a.j2", &s)
        .expect_err("fails");
    assert!(e.msg.starts_with("roles/x/templates/a.j2:2:"), "{}", e.msg);
}

// ---- filters (expected values from Ansible's docs) ----

#[test]
fn filter_bool() {
    for (v, want) in [
        ("'yes'", "True"),
        ("'no'", "False"),
        ("'on'", "True"),
        ("'1'", "True"),
        ("'True'", "True"),
        ("'false'", "False"),
        ("0", "False"),
        ("1", "True"),
        ("true", "True"),
    ] {
        assert_eq!(
            render(&format!("{{{{ {v} | bool }}}}"), json!({})),
            want,
            "{v}"
        );
    }
}

#[test]
fn filter_strings() {
    let v = json!({"s": "Hello World"});
    assert_eq!(render("{{ s | lower }}", v.clone()), "hello world");
    assert_eq!(render("{{ s | upper }}", v.clone()), "HELLO WORLD");
    assert_eq!(render("{{ 'foo bar' | capitalize }}", v.clone()), "Foo bar");
    assert_eq!(render("{{ 'foo bar' | title }}", v.clone()), "Foo Bar");
    assert_eq!(render("{{ '  x ' | trim }}", v.clone()), "x");
    assert_eq!(
        render("{{ s | replace('World', 'There') }}", v.clone()),
        "Hello There"
    );
    assert_eq!(render("{{ true | string }}", v.clone()), "True");
    assert_eq!(render("{{ s | length }} {{ s | count }}", v), "11 11");
}

#[test]
fn filter_numbers() {
    assert_eq!(native("{{ '42' | int }}", json!({})), json!(42));
    assert_eq!(native("{{ 'abc' | int }}", json!({})), json!(0));
    assert_eq!(native("{{ 'abc' | int(7) }}", json!({})), json!(7));
    assert_eq!(native("{{ '1.9' | int }}", json!({})), json!(1));
    assert_eq!(native("{{ '0x1F' | int(base=16) }}", json!({})), json!(31));
    assert_eq!(native("{{ true | int }}", json!({})), json!(1));
    assert_eq!(native("{{ '1.5' | float }}", json!({})), json!(1.5));
    assert_eq!(native("{{ -3 | abs }}", json!({})), json!(3));
    assert_eq!(native("{{ 2.567 | round(1) }}", json!({})), json!(2.6));
    assert_eq!(native("{{ [1, 2, 3] | sum }}", json!({})), json!(6));
    assert_eq!(native("{{ [3, 1, 2] | min }}", json!({})), json!(1));
    assert_eq!(native("{{ [3, 1, 2] | max }}", json!({})), json!(3));
}

#[test]
fn filter_lists() {
    let v = json!({"a": [1, 2, 2, 3], "b": [2, 3, 4], "users": [{"n": "b", "age": 2}, {"n": "a", "age": 1}]});
    assert_eq!(native("{{ a | unique }}", v.clone()), json!([1, 2, 3]));
    assert_eq!(native("{{ a | union(b) }}", v.clone()), json!([1, 2, 3, 4]));
    assert_eq!(native("{{ a | intersect(b) }}", v.clone()), json!([2, 3]));
    assert_eq!(native("{{ a | difference(b) }}", v.clone()), json!([1]));
    assert_eq!(
        native("{{ a | symmetric_difference(b) }}", v.clone()),
        json!([1, 4])
    );
    assert_eq!(
        native("{{ a | first }} {{ a | last }}", v.clone()),
        json!("1 3")
    );
    assert_eq!(native("{{ b | join(',') }}", v.clone()), json!("2,3,4"));
    assert_eq!(
        native("{{ [true, 'x'] | join(' ') }}", v.clone()),
        json!("True x")
    );
    assert_eq!(
        native(
            "{{ users | sort(attribute='age') | map(attribute='n') | list }}",
            v.clone()
        ),
        json!(["a", "b"])
    );
    assert_eq!(
        native(
            "{{ users | selectattr('age', 'gt', 1) | map(attribute='n') | list }}",
            v.clone()
        ),
        json!(["b"])
    );
    assert_eq!(
        native(
            "{{ users | rejectattr('age', 'gt', 1) | map(attribute='n') | list }}",
            v.clone()
        ),
        json!(["a"])
    );
    assert_eq!(
        native("{{ a | select('gt', 1) | list }}", v.clone()),
        json!([2, 2, 3])
    );
    assert_eq!(
        native("{{ a | reject('gt', 1) | list }}", v.clone()),
        json!([1])
    );
    assert_eq!(
        native("{{ [1, [2, [3, [4]]]] | flatten }}", v.clone()),
        json!([1, 2, 3, 4])
    );
    assert_eq!(
        native("{{ [1, [2, [3]]] | flatten(levels=1) }}", v.clone()),
        json!([1, 2, [3]])
    );
    assert_eq!(native("{{ 'ab' | list }}", v.clone()), json!(["a", "b"]));
    assert_eq!(
        native("{{ [1, 2] | zip(['a', 'b']) | list }}", v.clone()),
        json!([[1, "a"], [2, "b"]])
    );
    assert_eq!(
        native("{{ [3, 1, 2] | sort }}", v.clone()),
        json!([1, 2, 3])
    );
    assert_eq!(
        native("{{ [3, 1, 2] | sort(reverse=true) }}", v),
        json!([3, 2, 1])
    );
}

#[test]
fn filter_dicts() {
    let v = json!({"a": {"x": 1, "n": {"p": 1}}, "b": {"y": 2, "n": {"q": 2}}});
    assert_eq!(
        native("{{ a | combine(b) }}", v.clone()),
        json!({"x": 1, "n": {"q": 2}, "y": 2})
    );
    assert_eq!(
        native("{{ a | combine(b, recursive=True) }}", v.clone()),
        json!({"x": 1, "n": {"p": 1, "q": 2}, "y": 2})
    );
    assert_eq!(
        native("{{ {'a': 1} | dict2items }}", v.clone()),
        json!([{"key": "a", "value": 1}])
    );
    assert_eq!(
        native("{{ [{'key': 'a', 'value': 1}] | items2dict }}", v.clone()),
        json!({"a": 1})
    );
    assert_eq!(
        native(
            "{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}",
            v.clone()
        ),
        json!([{"k": "a", "v": 1}])
    );
    assert_eq!(
        native("{{ ['a', 'b'] | zip([1, 2]) | dict }}", v.clone()),
        json!({"a": 1, "b": 2})
    );
    assert_eq!(native("{{ dict(a=1) }}", v), json!({"a": 1}));
}

#[test]
fn filter_extract() {
    let v = json!({
        "hv": {"zk1": {"ip": "10.0.0.1", "net": {"a": [7, 8]}}, "zk2": {"ip": "10.0.0.2"}},
        "zk": ["zk1", "zk2"],
    });
    assert_eq!(
        render("{{ zk | map('extract', hv, 'ip') | join(',') }}", v.clone()),
        "10.0.0.1,10.0.0.2"
    );
    assert_eq!(
        native("{{ 'zk1' | extract(hv, ['net', 'a', 1]) }}", v.clone()),
        json!(8)
    );
    assert_eq!(
        native(
            "{{ [1, 0] | map('extract', ['x', 'y']) | list }}",
            v.clone()
        ),
        json!(["y", "x"])
    );
    assert_eq!(
        render("{{ 'zk2' | extract(hv, 'net') is defined }}", v),
        "False"
    );
}

#[test]
fn filter_ternary() {
    assert_eq!(
        render("{{ (1 == 1) | ternary('yes', 'no') }}", json!({})),
        "yes"
    );
    assert_eq!(
        render("{{ false | ternary('yes', 'no') }}", json!({})),
        "no"
    );
    assert_eq!(
        render("{{ none | ternary('y', 'n', 'null') }}", json!({})),
        "null"
    );
}

#[test]
fn filter_json_and_yaml() {
    let v = json!({"d": {"b": [1, 2], "a": "x"}});
    assert_eq!(
        render("{{ d | to_json }}", v.clone()),
        r#"{"b": [1, 2], "a": "x"}"#
    );
    assert_eq!(
        render("{{ d | to_nice_json }}", v.clone()),
        "{\n    \"a\": \"x\",\n    \"b\": [\n        1,\n        2\n    ]\n}"
    );
    assert_eq!(render("{{ d | to_yaml }}", v.clone()), "a: x\nb: [1, 2]\n");
    assert_eq!(
        render("{{ d | to_nice_yaml }}", v.clone()),
        "a: x\nb:\n- 1\n- 2\n"
    );
    assert_eq!(
        render(
            "{{ {'l': [{'k': 'v', 'n': 1}]} | to_nice_yaml }}",
            v.clone()
        ),
        "l:\n-   k: v\n    n: 1\n"
    );
    assert_eq!(
        render("{{ {'a': 'yes', 'b': ''} | to_nice_yaml }}", v.clone()),
        "a: 'yes'\nb: ''\n"
    );
    assert_eq!(
        native("{{ '{\"a\": [1, true]}' | from_json }}", v.clone()),
        json!({"a": [1, true]})
    );
    assert_eq!(
        native("{{ 'a: 1\\nb: [x, yes]' | from_yaml }}", v),
        json!({"a": 1, "b": ["x", true]})
    );
}

#[test]
fn filter_versions() {
    for (expr, want) in [
        ("'1.10' | version_compare('1.9', '>')", true),
        ("'1.10' is version('1.9', 'gt')", true),
        ("'2.0' is version_compare('2.0.0', 'lt')", true),
        ("'1.2.3' is version('1.2.3', '==')", true),
        ("'1.2.3' is version('1.2.3')", true),
        ("'0.28.1' is version('0.28', '>=')", true),
        ("'7.4' is version('7.10', 'ge')", false),
        ("'3.1a' is version('3.1', 'ne')", true),
    ] {
        assert_eq!(cond(expr, json!({})).expect(expr), want, "{expr}");
    }
}

#[test]
fn filter_ipaddr() {
    assert_eq!(
        render("{{ '192.168.1.10/24' | ipaddr('address') }}", json!({})),
        "192.168.1.10"
    );
    assert_eq!(
        render("{{ '192.168.1.10/24' | ipaddr('network') }}", json!({})),
        "192.168.1.0"
    );
    assert_eq!(
        render("{{ '192.168.1.10/24' | ipaddr('netmask') }}", json!({})),
        "255.255.255.0"
    );
    assert_eq!(
        native("{{ '192.168.1.10/24' | ipaddr('prefix') }}", json!({})),
        json!(24)
    );
    assert_eq!(
        native("{{ '10.0.0.1' | ipaddr }}", json!({})),
        json!("10.0.0.1")
    );
    assert_eq!(
        native("{{ 'not-an-ip' | ipaddr }}", json!({})),
        json!(false)
    );
    assert_eq!(
        native("{{ ['10.0.0.1', 'x', '::1'] | ipaddr }}", json!({})),
        json!(["10.0.0.1", "::1"])
    );
}

#[test]
fn filter_quote_and_regex() {
    assert_eq!(render("{{ 'safe' | quote }}", json!({})), "safe");
    assert_eq!(render("{{ \"it's\" | quote }}", json!({})), r#"'it'"'"'s'"#);
    assert_eq!(render("{{ 'a b' | quote }}", json!({})), "'a b'");
    assert_eq!(
        render(
            "{{ 'ansible' | regex_replace('^a.*i(.*)$', 'a\\\\1') }}",
            json!({})
        ),
        "able"
    );
    assert_eq!(
        render(
            "{{ 'foobar' | regex_replace('(?P<x>o+)', '[\\\\g<x>]') }}",
            json!({})
        ),
        "f[oo]bar"
    );
    assert_eq!(
        render("{{ 'localhost:80' | regex_replace(':80', '') }}", json!({})),
        "localhost"
    );
    assert_eq!(
        render(
            "{{ 'server1/database42' | regex_search('database[0-9]+') }}",
            json!({})
        ),
        "database42"
    );
    assert_eq!(
        native(
            "{{ 'server1/database42' | regex_search('server([0-9]+)/database([0-9]+)', '\\\\1', '\\\\2') }}",
            json!({})
        ),
        json!(["1", "42"])
    );
    assert_eq!(
        native("{{ 'x' | regex_search('y') }}", json!({})),
        json!(null)
    );
    assert_eq!(
        native("{{ 'a1b22c333' | regex_findall('[0-9]+') }}", json!({})),
        json!(["1", "22", "333"])
    );
    assert_eq!(
        native(
            "{{ 'k=v, a=b' | regex_findall('(\\\\w)=(\\\\w)') }}",
            json!({})
        ),
        json!([["k", "v"], ["a", "b"]])
    );
    assert_eq!(
        native(
            "{{ 'ABC' | regex_search('b', ignorecase=True) }}",
            json!({})
        ),
        json!("B")
    );
}

#[test]
fn filter_comment() {
    assert_eq!(
        render("{{ 'Plain style (default)' | comment }}", json!({})),
        "#\n# Plain style (default)\n#"
    );
    assert_eq!(
        render("{{ 'C block' | comment('cblock') }}", json!({})),
        "/*\n *\n * C block\n *\n */"
    );
    assert_eq!(
        render("{{ 'a\\nb' | comment('c') }}", json!({})),
        "//\n// a\n// b\n//"
    );
}

#[test]
fn filter_paths() {
    assert_eq!(
        render("{{ '/etc/asdf/foo.txt' | basename }}", json!({})),
        "foo.txt"
    );
    assert_eq!(
        render("{{ '/etc/asdf/foo.txt' | dirname }}", json!({})),
        "/etc/asdf"
    );
    assert_eq!(
        native("{{ '/etc/my.file.txt' | splitext }}", json!({})),
        json!(["/etc/my.file", ".txt"])
    );
    assert_eq!(
        native("{{ '.bashrc' | splitext }}", json!({})),
        json!([".bashrc", ""])
    );
    let home = std::env::var("HOME").unwrap_or_default();
    if !home.is_empty() {
        assert_eq!(
            render("{{ '~/x' | expanduser }}", json!({})),
            format!("{home}/x")
        );
    }
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("a.conf"), "").expect("write");
    std::fs::write(dir.path().join("b.txt"), "").expect("write");
    let pattern = format!("{}/*.conf", dir.path().display());
    assert_eq!(
        native(&format!("{{{{ '{pattern}' | fileglob }}}}"), json!({})),
        json!([format!("{}/a.conf", dir.path().display())])
    );
    assert_eq!(
        render(
            &format!("{{{{ '{}/.' | realpath }}}}", dir.path().display()),
            json!({})
        ),
        std::fs::canonicalize(dir.path())
            .expect("canon")
            .display()
            .to_string()
    );
}

#[test]
fn filter_encoding_and_hashes() {
    assert_eq!(render("{{ 'hello' | b64encode }}", json!({})), "aGVsbG8=");
    assert_eq!(render("{{ 'aGVsbG8=' | b64decode }}", json!({})), "hello");
    assert_eq!(
        render("{{ 'test1' | hash('sha1') }}", json!({})),
        "b444ac06613fc8d63795be9ad0beaf55011936ac"
    );
    assert_eq!(
        render("{{ 'test1' | hash('md5') }}", json!({})),
        "5a105e8b9d40e1329780d62ea2265d8a"
    );
    assert_eq!(
        render("{{ 'test1' | md5 }}", json!({})),
        "5a105e8b9d40e1329780d62ea2265d8a"
    );
    assert_eq!(
        render("{{ 'test1' | hash('sha256') }}", json!({})),
        "1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014"
    );
    assert_eq!(render("{{ 'a b&c' | urlencode }}", json!({})), "a%20b%26c");
    // Ansible's namespace: the documented example value.
    assert_eq!(
        render("{{ 'example.com' | to_uuid }}", json!({})),
        "ae780c3a-a3ab-53c2-bfb4-098da300b3fe"
    );
}

#[test]
fn filter_mandatory_random_shuffle() {
    let e = error("{{ nope | mandatory }}", json!({}));
    assert_eq!(e.undefined.as_deref(), Some("nope"), "{}", e.msg);
    assert_eq!(render("{{ 1 | mandatory }}", json!({})), "1");
    let r = native("{{ 10 | random(seed='x') }}", json!({}));
    assert!(r.as_i64().is_some_and(|n| (0..10).contains(&n)));
    assert_eq!(
        native("{{ 10 | random(seed='x') }}", json!({})),
        r,
        "a seed repeats"
    );
    let picked = native("{{ ['a', 'b'] | random }}", json!({}));
    assert!(picked == json!("a") || picked == json!("b"));
    let mut shuffled: Vec<i64> =
        serde_json::from_value(native("{{ [1, 2, 3, 4] | shuffle }}", json!({}))).expect("list");
    shuffled.sort();
    assert_eq!(shuffled, vec![1, 2, 3, 4]);
}

#[test]
fn omit_is_a_unique_placeholder() {
    assert_eq!(render("{{ omit }}", json!({})), omit_token());
    assert!(omit_token().starts_with("__omit_place_holder__"));
    assert_eq!(
        render("{{ nope | default(omit) }}", json!({})),
        omit_token()
    );
}

#[test]
fn range_global() {
    assert_eq!(
        native("{{ range(1, 4) | list }}", json!({})),
        json!([1, 2, 3])
    );
}

// ---- tests ----

#[test]
fn tests_on_registered_results() {
    let v = json!({"r": {"changed": true, "failed": false, "rc": 0}, "bad": {"rc": 2}, "s": {"skipped": true, "changed": false}});
    assert!(cond("r is changed", v.clone()).unwrap());
    assert!(cond("r is succeeded and r is success", v.clone()).unwrap());
    assert!(!cond("r is failed", v.clone()).unwrap());
    assert!(cond("bad is failed and bad is failure", v.clone()).unwrap());
    assert!(cond("s is skipped and s is not changed", v.clone()).unwrap());
    assert!(!cond("r is skipped", v).unwrap());
}

#[test]
fn tests_regex_and_types() {
    let v = json!({"url": "https://example.com/users/foo/resources/bar", "n": 1, "m": {}, "l": []});
    assert!(
        cond(
            "url is match('https://example.com/users/.*/resources')",
            v.clone()
        )
        .unwrap()
    );
    assert!(!cond("url is match('/users/')", v.clone()).unwrap());
    assert!(cond("url is search('users')", v.clone()).unwrap());
    assert!(cond("url is regex('example\\\\.com/\\\\w+/foo')", v.clone()).unwrap());
    assert!(
        cond(
            "n is number and 'x' is string and m is mapping and l is sequence and l is iterable",
            v.clone()
        )
        .unwrap()
    );
    assert!(
        cond(
            "none is none and true is true and false is false",
            v.clone()
        )
        .unwrap()
    );
    assert!(cond("n is sameas 1", v.clone()).unwrap());
    assert!(cond("'a' in ['a'] and 'a' is in ['a']", v.clone()).unwrap());
    assert!(
        cond(
            "'yes' is truthy and '' is falsy and 'no' is falsy(convert_bool=True)",
            v.clone()
        )
        .unwrap()
    );
    assert!(
        cond(
            "[1, 2] is subset([1, 2, 3]) and [1, 2, 3] is superset([3])",
            v.clone()
        )
        .unwrap()
    );
    assert!(cond("[1, 2] is contains(2)", v).unwrap());
}

#[test]
fn tests_on_controller_paths() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("f");
    std::fs::write(&file, "x").expect("write");
    let link = dir.path().join("l");
    std::os::unix::fs::symlink(&file, &link).expect("symlink");
    let v = json!({"d": dir.path(), "f": file, "l": link, "missing": dir.path().join("nope")});
    assert!(
        cond(
            "d is directory and f is file and l is link and f is exists",
            v.clone()
        )
        .unwrap()
    );
    assert!(
        cond(
            "missing is not exists and f is abs and 'rel/x' is not abs",
            v
        )
        .unwrap()
    );
}

// ---- lookups ----

#[test]
fn lookup_env_and_vars() {
    // PATH is set for every test process.
    let path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(render("{{ lookup('env', 'PATH') }}", json!({})), path);
    assert_eq!(
        render("{{ lookup('env', 'RMESOS_SURELY_UNSET_VAR') }}", json!({})),
        ""
    );
    assert_eq!(
        render(
            "{{ lookup('vars', 'a' ~ 'b') }}",
            json!({"ab": "{{ 1 + 1 }}"})
        ),
        "2"
    );
    assert_eq!(
        render("{{ lookup('vars', 'nope', default='d') }}", json!({})),
        "d"
    );
}

#[test]
fn lookup_file_template_first_found_fileglob_relative_to_role() {
    let dir = tempfile::tempdir().expect("tmp");
    let role = dir.path().join("roles/r");
    std::fs::create_dir_all(role.join("files")).expect("mkdir");
    std::fs::create_dir_all(role.join("templates")).expect("mkdir");
    std::fs::write(role.join("files/key.pub"), "ssh-rsa AAA\n").expect("write");
    std::fs::write(role.join("files/b.conf"), "").expect("write");
    std::fs::write(role.join("templates/t.j2"), "hello {{ who }}\n").expect("write");
    let v = json!({"role_path": role, "playbook_dir": dir.path(), "who": "{{ 'world' }}"});
    assert_eq!(
        render("{{ lookup('file', 'key.pub') }}", v.clone()),
        "ssh-rsa AAA"
    );
    assert_eq!(
        render("{{ lookup('template', 't.j2') }}", v.clone()),
        "hello world\n"
    );
    assert_eq!(
        render(
            "{{ lookup('first_found', ['nope.conf', 'b.conf']) }}",
            v.clone()
        ),
        role.join("files/b.conf").display().to_string()
    );
    assert_eq!(
        native("{{ query('first_found', ['nope'], skip=True) }}", v.clone()),
        json!([])
    );
    assert_eq!(
        native("{{ query('fileglob', '*.conf') }}", v.clone()),
        json!([role.join("files/b.conf").display().to_string()])
    );
    assert!(
        error("{{ lookup('file', 'missing.txt') }}", v)
            .msg
            .contains("missing.txt")
    );
}

#[test]
fn lookup_pipe_lines_and_wantlist() {
    assert_eq!(render("{{ lookup('pipe', 'echo hi') }}", json!({})), "hi");
    assert_eq!(
        native(
            "{{ lookup('lines', 'printf \"a\\\\nb\\\\n\"', wantlist=True) }}",
            json!({})
        ),
        json!(["a", "b"])
    );
    assert_eq!(
        native("{{ q('lines', 'printf \"a\\\\nb\\\\n\"') }}", json!({})),
        json!(["a", "b"])
    );
    assert_eq!(
        render(
            "{{ lookup('lines', 'printf \"a\\\\nb\\\\n\"') }}",
            json!({})
        ),
        "a,b"
    );
    assert!(
        error("{{ lookup('pipe', 'exit 3') }}", json!({}))
            .msg
            .contains("returned 3")
    );
}

#[test]
fn lookup_password_stores_and_reuses() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("creds/pw");
    let src = format!(
        "{{{{ lookup('password', '{} length=12') }}}}",
        path.display()
    );
    let first = render(&src, json!({}));
    assert_eq!(first.len(), 12);
    assert_eq!(render(&src, json!({})), first);
    let digits = render(
        "{{ lookup('password', '/dev/null length=8 chars=digits') }}",
        json!({}),
    );
    assert!(
        digits.len() == 8 && digits.chars().all(|c| c.is_ascii_digit()),
        "{digits}"
    );
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn bench_simple_expression() {
    let t = Templar::new();
    let layers = vec![
        val(json!({"x": "value", "n": 1})),
        val(json!({"y": "{{ x }}"})),
    ];
    let iterations = 20_000;
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        let s = scope(&t, layers.clone(), val(json!({})));
        let v = t
            .template_value(&Value::from("{{ y }}"), &s)
            .expect("renders");
        assert_eq!(v.as_str(), Some("value"));
    }
    let per = start.elapsed().as_nanos() / iterations;
    println!("template_value(\"{{{{ y }}}}\") with a fresh scope: {per} ns/op");
    let s = scope(&t, layers, val(json!({})));
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        let v = t
            .template_value(&Value::from("dir={{ x }}/{{ n }}"), &s)
            .expect("renders");
        assert!(v.as_str().is_some());
    }
    let per = start.elapsed().as_nanos() / iterations;
    println!("template_value(\"dir={{{{ x }}}}/{{{{ n }}}}\"): {per} ns/op");
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        assert!(
            t.eval_bool("n == 1 and x is defined", &s)
                .expect("evaluates")
        );
    }
    let per = start.elapsed().as_nanos() / iterations;
    println!("eval_bool(\"n == 1 and x is defined\"): {per} ns/op");
}

#[test]
fn widths_no_memory_holds_are_errors_not_aborts() {
    // `indent(10000000000)` tried to allocate 10 GB and aborted the run.
    for src in [
        "{{ 'a' | indent(10000000000) }}",
        "{{ 'a' | indent(width=10000000000) }}",
        "{{ [1] | to_json(indent=10000000000) }}",
        "{{ [1] | tojson(indent=10000000000) }}",
        "{{ [1] | tojson(10000000000) }}",
        "{{ [1] | to_nice_json(indent=10000000000) }}",
        "{{ {'a': {'b': 1}} | to_nice_yaml(indent=10000000000) }}",
        "{{ {'a': {'b': 1}} | to_yaml(indent=10000000000) }}",
        "{{ 'x' | comment(postfix_count=10000000000) }}",
        // format and slice reserved what they were asked for, and aborted too.
        "{{ '%10000000000s' | format('x') }}",
        "{{ '%.10000000000f' | format(1.5) }}",
        "{{ '{:>10000000000}' | format('x') }}",
        "{{ [1, 2] | slice(10000000000) | list }}",
    ] {
        let e = error(src, json!({}));
        assert!(e.to_string().contains("is more than 10000"), "{src}: {e}");
    }
    assert_eq!(render("{{ 'a\nb' | indent(2) }}", json!({})), "a\n  b");
    assert_eq!(
        render("{{ '%-4s|%5.2f' | format('a', 1.5) }}", json!({})),
        "a   | 1.50"
    );
    assert_eq!(
        render("{{ [1, 2, 3] | slice(2) | list }}", json!({})),
        "[[1, 2], [3]]"
    );
}

#[test]
fn lookup_template_knows_ansible_managed_unless_the_caller_set_one() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
    std::fs::write(
        dir.path().join("templates/m.j2"),
        "# {{ ansible_managed }} ({{ template_path }})",
    )
    .expect("write");
    let v = json!({"playbook_dir": dir.path()});
    assert_eq!(
        render("{{ lookup('template', 'm.j2') }}", v),
        "# Ansible managed (m.j2)"
    );
    let v = json!({"playbook_dir": dir.path(), "ansible_managed": "by ops"});
    assert_eq!(
        render("{{ lookup('template', 'm.j2') }}", v),
        "# by ops (m.j2)"
    );
}
