//! The playbook/role loader against the fixtures in tests/fixtures/loader: the model it builds
//! (keyword folding, roles, handlers, argument forms, includes) and the located errors it gives
//! for bad input.

use minijinja::Value;
use rmesos::error::LoadError;
use rmesos::plan::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/loader")
        .join(p)
}

fn load(p: &str) -> Playbook {
    match load_playbook(&fixture(p), &LoadOptions::default()) {
        Ok(pb) => pb,
        Err(e) => panic!("{}", e),
    }
}

fn flatten(nodes: &[TaskNode], out: &mut Vec<Arc<Task>>) {
    for n in nodes {
        match n {
            TaskNode::Task(t) => out.push(t.clone()),
            TaskNode::Block(b) => {
                flatten(&b.block, out);
                flatten(&b.rescue, out);
                flatten(&b.always, out);
            }
        }
    }
}

fn tasks(nodes: &[TaskNode]) -> Vec<Arc<Task>> {
    let mut out = Vec::new();
    flatten(nodes, &mut out);
    out
}

fn named(nodes: &[TaskNode], name: &str) -> Arc<Task> {
    tasks(nodes)
        .into_iter()
        .find(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no task named {}", name))
}

fn arg(t: &Task, k: &str) -> Value {
    t.args.get_attr(k).unwrap()
}

fn when(kw: &Keywords) -> Vec<&str> {
    kw.when.iter().map(|c| c.expr.as_str()).collect()
}

fn main_play() -> Play {
    load("site.yml").plays.remove(1)
}

fn block_names(nodes: &[TaskNode]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| match n {
            TaskNode::Block(b) => b.name.clone().unwrap_or_default(),
            TaskNode::Task(t) => t.display_name(),
        })
        .collect()
}

#[test]
fn import_playbook_applies_vars_when_and_tags() {
    let pb = load("site.yml");
    assert_eq!(pb.plays.len(), 2);
    assert_eq!(pb.dir, fixture(""));
    let imported = &pb.plays[0];
    assert_eq!(imported.name, "all");
    assert_eq!(imported.vars.get_attr("imported").unwrap(), Value::from(1));
    assert_eq!(imported.vars.get_attr("own").unwrap(), Value::from(1));
    let t = &tasks(&imported.tasks)[0];
    assert_eq!(when(&t.kw), vec!["go_on"]);
    assert_eq!(t.kw.tags, vec!["imp"]);
}

#[test]
fn play_keywords_and_legacy_spellings() {
    let play = main_play();
    assert_eq!(play.name, "main play");
    assert_eq!(play.hosts, "masters,slaves");
    assert!(!play.gather_facts);
    assert_eq!(play.serial, vec![Serial::Count(1), Serial::Percent(50.0)]);
    assert_eq!(play.kw.remote_user, Some(Value::from("deploy")));
    assert_eq!(play.kw.become_, Some(Value::from(true)));
    assert_eq!(play.kw.become_method, Some(Value::from("sudo")));
    let pre = named(&play.pre_tasks, "pre");
    assert_eq!(pre.kw.remote_user, Some(Value::from("deploy")));
    assert_eq!(pre.kw.tags, vec!["play"]);
    assert_eq!(pre.kw.environment.len(), 1);
}

#[test]
fn roles_deps_run_once_unless_duplicates_allowed() {
    let play = main_play();
    assert_eq!(
        block_names(&play.roles),
        vec!["common", "base", "web", "dup", "dup"]
    );
}

#[test]
fn role_keywords_params_defaults_and_vars() {
    let play = main_play();
    let web = named(&play.roles, "web task");
    assert_eq!(web.display_name(), "web : web task");
    assert_eq!(web.kw.become_, Some(Value::from(false)), "task wins");
    assert_eq!(web.kw.become_user, Some(Value::from("www")), "role entry");
    assert_eq!(web.kw.tags, vec!["play", "web"]);
    assert_eq!(when(&web.kw), vec!["enable_web"]);
    let role = web.role.as_ref().unwrap();
    assert_eq!(
        role.params.get_attr("http_port").unwrap(),
        Value::from(8080)
    );
    assert_eq!(
        role.defaults.get_attr("http_port").unwrap(),
        Value::from(80)
    );
    assert_eq!(
        role.vars.get_attr("web_user").unwrap(),
        Value::from("www-data")
    );
    assert!(role.path.ends_with("roles/web"));
    // A dependency inherits the keywords of the role that pulls it in.
    let base = named(&play.roles, "base task");
    assert_eq!(when(&base.kw), vec!["enable_web"]);
    assert_eq!(base.kw.tags, vec!["play", "web"]);
    assert_eq!(
        base.role
            .as_ref()
            .unwrap()
            .params
            .get_attr("level")
            .unwrap(),
        Value::from(1)
    );
    // import_tasks inside a role resolves against role/tasks and keeps the role.
    let sub = named(&play.roles, "web sub");
    assert_eq!(sub.role.as_ref().unwrap().name, "web");
}

#[test]
fn handler_names_roles_first_then_play() {
    let play = main_play();
    let names: Vec<Vec<String>> = play.handlers.iter().map(|h| h.names.clone()).collect();
    assert_eq!(
        names,
        vec![
            vec![
                "common handler".to_string(),
                "common : common handler".into()
            ],
            vec!["restart web".to_string(), "web : restart web".into()],
            vec!["play handler".to_string(), "topic".into()],
        ]
    );
}

#[test]
fn kv_and_free_form_arguments() {
    let play = main_play();
    let kv = named(&play.tasks, "kv");
    assert_eq!(arg(&kv, "_raw_params"), Value::from("./run.sh"));
    assert_eq!(arg(&kv, "chdir"), Value::from("/tmp"));
    assert_eq!(arg(&kv, "creates"), Value::from("/tmp/a b"));
    let ff = named(&play.tasks, "free form with args");
    assert_eq!(arg(&ff, "_raw_params"), Value::from("FOO=1 ./run.sh"));
    assert_eq!(
        arg(&ff, "chdir"),
        Value::from("/tmp"),
        "inline wins over args:"
    );
    assert_eq!(arg(&ff, "executable"), Value::from("/bin/bash"));
    let mapping = tasks(&play.tasks)
        .into_iter()
        .find(|t| t.action_name == "ansible.builtin.debug")
        .unwrap();
    assert_eq!(arg(&mapping, "verbosity"), Value::from(2));
    assert_eq!(mapping.kw.become_user, Some(Value::from("hdfs")));
    assert_eq!(mapping.notify, vec!["topic", "common : common handler"]);
}

#[test]
fn loops_register_notify() {
    let play = main_play();
    let t = named(&play.tasks, "items");
    match &t.loop_ {
        Some((LoopSource::With(name, v), _)) => {
            assert_eq!(name, "items");
            assert_eq!(v, &Value::from("{{ pkgs }}"));
        }
        _ => panic!("expected with_items"),
    }
    assert_eq!(t.register.as_deref(), Some("out"));
    assert_eq!(t.notify, vec!["restart web"]);
    assert_eq!(arg(&t, "msg"), Value::from("{{ item }}"));
}

#[test]
fn block_keywords_fold_into_its_tasks() {
    let play = main_play();
    let TaskNode::Block(b) = play
        .tasks
        .iter()
        .find(|n| matches!(n, TaskNode::Block(b) if b.name.as_deref() == Some("guarded")))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!((b.block.len(), b.rescue.len(), b.always.len()), (1, 1, 1));
    let inner = &tasks(&b.block)[0];
    assert_eq!(inner.kw.become_user, Some(Value::from("hdfs")));
    assert_eq!(when(&inner.kw), vec!["x is defined"]);
    let always = &tasks(&b.always)[0];
    assert!(matches!(always.action, Action::Meta(Meta::FlushHandlers)));
}

#[test]
fn imports_and_includes() {
    let play = main_play();
    let extras: Vec<_> = tasks(&play.tasks)
        .into_iter()
        .filter(|t| t.name.as_deref() == Some("extra"))
        .collect();
    // import_tasks (tags + legacy `when: "{{ y }}"`) and the static legacy include.
    assert_eq!(extras.len(), 2);
    assert_eq!(extras[0].kw.tags, vec!["play", "extra"]);
    assert_eq!(when(&extras[0].kw), vec!["y"]);
    let foo = extras[1].kw.vars.last().unwrap().get_attr("foo").unwrap();
    assert_eq!(foo, Value::from("bar"));

    let includes: Vec<_> = tasks(&play.tasks)
        .into_iter()
        .filter(|t| matches!(t.action, Action::IncludeTasks { .. }))
        .collect();
    assert_eq!(includes.len(), 2);
    let Action::IncludeTasks {
        file,
        preloaded,
        kw,
    } = &includes[0].action
    else {
        unreachable!()
    };
    assert_eq!(file, "tasks/extra.yml");
    assert_eq!(includes[0].kw.tags, vec!["play", "inc"]);
    assert_eq!(when(&includes[0].kw), vec!["z"]);
    assert!(kw.when.is_empty());
    let pre = tasks(preloaded.as_ref().unwrap().as_ref().unwrap());
    assert_eq!(pre[0].kw.tags, vec!["play", "applied"]);
    assert!(pre[0].kw.when.is_empty());
    let Action::IncludeTasks { preloaded, .. } = &includes[1].action else {
        unreachable!()
    };
    assert!(preloaded.is_none(), "templated name is loaded at run time");
}

#[test]
fn local_action_and_action() {
    let play = main_play();
    let all = tasks(&play.tasks);
    let local = all.iter().find(|t| t.local_action).unwrap();
    assert_eq!(local.action_name, "command");
    assert_eq!(arg(local, "_raw_params"), Value::from("ls -l"));
    assert_eq!(local.kw.delegate_to, Some(Value::from("localhost")));
    let action = all
        .iter()
        .find(|t| {
            t.action_name == "debug" && t.args.get_attr("msg").ok() == Some(Value::from("hi"))
        })
        .unwrap();
    assert!(matches!(action.action, Action::Module(_)));
}

#[test]
fn run_time_role_and_task_file() {
    let kw = Keywords {
        tags: vec!["rt".into()],
        ..Default::default()
    };
    let (info, blocks, handlers) = load_role(
        "web",
        None,
        Value::from_pairs([("http_port", Value::from(1))]),
        &kw,
        &fixture(""),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(info.name, "web");
    assert_eq!(block_names(&blocks), vec!["common", "base", "web"]);
    let t = named(&blocks, "web task");
    assert_eq!(t.kw.tags, vec!["rt"]);
    assert!(handlers.iter().any(|h| h.names[0] == "restart web"));

    let ts = load_tasks_file(
        &fixture("tasks/extra.yml"),
        None,
        &kw,
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(tasks(&ts)[0].kw.tags, vec!["rt"]);
}

#[test]
fn roles_path_is_searched() {
    let opts = LoadOptions {
        roles_path: vec![fixture("roles")],
        ..LoadOptions::default()
    };
    let (info, _, _) = load_role(
        "dup",
        None,
        Value::from(()),
        &Keywords::default(),
        Path::new("/nonexistent"),
        &opts,
    )
    .unwrap();
    assert!(info.path.ends_with("dup"));
}

// ---- bad input: each error names file:line:col ----

fn err(p: &str) -> LoadError {
    match load_playbook(&fixture(p), &LoadOptions::default()) {
        Ok(_) => panic!("{} loaded without error", p),
        Err(e) => e,
    }
}

/// Asserts where the error points and that its text says `words`.
fn at(p: &str, file: &str, line: u32, col: u32, words: &str) -> LoadError {
    let e = err(p);
    let span = e
        .span
        .clone()
        .unwrap_or_else(|| panic!("no position: {}", e));
    assert!(span.file.ends_with(file), "{} (expected file {})", e, file);
    assert_eq!((span.line, span.col), (line, col), "{}", e);
    let text = e.to_string();
    assert!(text.contains(words), "{:?} lacks {:?}", text, words);
    assert!(
        text.starts_with(&format!("{}:{}:{}: ", span.file, line, col)),
        "{}",
        text
    );
    e
}

#[test]
fn bad_yaml_syntax() {
    at(
        "bad/yaml_syntax.yml",
        "bad/yaml_syntax.yml",
        4,
        12,
        "YAML syntax error",
    );
}

#[test]
fn bad_unknown_play_keyword() {
    let e = at(
        "bad/unknown_play_kw.yml",
        "unknown_play_kw.yml",
        2,
        3,
        "unknown play keyword `gather_fact`",
    );
    assert!(e.hint.unwrap().contains("gather_facts"));
}

#[test]
fn bad_unknown_module() {
    let e = at(
        "bad/unknown_module.yml",
        "unknown_module.yml",
        4,
        7,
        "`debugg`",
    );
    assert!(e.hint.unwrap().contains("`debug`"));
}

#[test]
fn bad_unknown_argument() {
    at(
        "bad/unknown_arg.yml",
        "unknown_arg.yml",
        5,
        9,
        "unsupported argument `bogus`",
    );
}

#[test]
fn bad_unknown_argument_in_role_kv() {
    at(
        "bad/role_arg.yml",
        "roles/badarg/tasks/main.yml",
        3,
        10,
        "unsupported argument `colour`",
    );
}

#[test]
fn bad_two_modules() {
    at(
        "bad/two_modules.yml",
        "two_modules.yml",
        4,
        7,
        "two modules",
    );
}

#[test]
fn bad_no_module() {
    at(
        "bad/no_module.yml",
        "no_module.yml",
        3,
        7,
        "no module/action",
    );
}

#[test]
fn bad_missing_role() {
    at(
        "bad/missing_role.yml",
        "missing_role.yml",
        4,
        7,
        "role `nope` not found",
    );
}

#[test]
fn bad_missing_import() {
    at(
        "bad/missing_import.yml",
        "missing_import.yml",
        3,
        21,
        "task file not found: nope.yml",
    );
}

#[test]
fn bad_template_in_kv() {
    at(
        "bad/bad_template.yml",
        "bad_template.yml",
        3,
        14,
        "template syntax error",
    );
}

#[test]
fn bad_register_name() {
    at(
        "bad/bad_register.yml",
        "bad_register.yml",
        4,
        17,
        "`1out` is not a valid variable name",
    );
}

#[test]
fn bad_loop_and_with_items() {
    at(
        "bad/loop_and_with.yml",
        "loop_and_with.yml",
        5,
        7,
        "only one loop",
    );
}

#[test]
fn bad_unknown_handler() {
    at(
        "bad/unknown_handler.yml",
        "unknown_handler.yml",
        6,
        11,
        "handler `restart nginx` not found",
    );
}

#[test]
fn bad_meta() {
    let e = at(
        "bad/bad_meta.yml",
        "bad_meta.yml",
        3,
        13,
        "unknown meta action `flush_handler`",
    );
    assert!(e.hint.unwrap().contains("flush_handlers"));
}

#[test]
fn bad_vars_prompt() {
    let e = at(
        "bad/vars_prompt.yml",
        "vars_prompt.yml",
        4,
        7,
        "`encrypt` is not supported",
    );
    assert!(e.hint.unwrap().contains("-e"));
}

#[test]
fn bad_vault() {
    at("bad/vault.yml", "vault.yml", 3, 13, "!vault");
}

#[test]
fn bad_block_keyword() {
    at(
        "bad/block_kw.yml",
        "block_kw.yml",
        5,
        7,
        "`loop` is not valid on a block",
    );
}

#[test]
fn bad_include_cycle() {
    at("bad/cycle.yml", "cycle_tasks.yml", 1, 17, "include cycle");
}

#[test]
fn bad_listen_outside_handlers() {
    at(
        "bad/listen.yml",
        "listen.yml",
        4,
        7,
        "`listen` is only valid on handlers",
    );
}

#[test]
fn async_and_poll_are_task_keywords() {
    let play = load("async.yml").plays.remove(0);
    let t = tasks(&play.tasks);
    assert_eq!(
        t[0].kw.async_.as_ref().map(|v| v.to_string()),
        Some("10".into())
    );
    assert_eq!(
        t[0].kw.poll.as_ref().map(|v| v.to_string()),
        Some("0".into())
    );
    let polled = named(&play.tasks, "polled");
    assert_eq!(
        polled.kw.async_.as_ref().map(|v| v.to_string()),
        Some("{{ limit }}".into())
    );
    assert!(polled.kw.poll.is_none());
}

// ---- playbooks given as text ----

#[test]
fn text_playbook_finds_roles_and_imports_beside_the_path_it_stands_for() {
    let text = "- import_playbook: sub/other.yml\n- hosts: all\n  roles: [web]\n";
    let path = fixture("generated.yml");
    assert!(!path.exists());
    let pb = match load_playbook_text(text, &path, &LoadOptions::default()) {
        Ok(pb) => pb,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(pb.path, path);
    assert_eq!(pb.dir, fixture(""));
    let generated = pb.plays.last().expect("the generated play");
    assert_eq!(&*generated.span.file, path.display().to_string());
    assert_eq!(generated.span.line, 2);
    assert!(pb.plays.len() > 1, "the import is loaded too");
    let roles = tasks(&generated.roles);
    assert!(
        roles
            .iter()
            .any(|t| t.role.as_ref().is_some_and(|r| r.name == "web"))
    );
}

#[test]
fn text_playbook_errors_show_their_line_from_the_text() {
    let text = "- hosts: all\n  tasks:\n    - debug: msg=hi\n      bogus: 1\n";
    let path = Path::new("/nonexistent/adhoc.yml");
    let e = match load_playbook_text(text, path, &LoadOptions::default()) {
        Ok(_) => panic!("loaded without error"),
        Err(e) => e,
    };
    let text = e.to_string();
    assert!(text.starts_with("/nonexistent/adhoc.yml:4:7: "), "{text}");
    assert!(
        text.contains("\n  |\n  |       bogus: 1\n  |       ^"),
        "{text}"
    );
}

// ---- constructs of content written elsewhere (issue 11): tests/loader/constructs.rs ----
#[path = "loader/constructs.rs"]
mod constructs;

#[test]
fn bad_loop_pause_too_large_for_a_duration() {
    // 1e20 seconds used to panic when the loop paused; it is refused where it is written.
    at(
        "bad/pause_huge.yml",
        "pause_huge.yml",
        6,
        16,
        "loop_control.pause must be a number of seconds",
    );
}

// ---- dynamic includes are read lazily (issue 11) ----

fn lazy_tasks() -> (Playbook, Vec<Arc<Task>>) {
    let pb = load("lazy/site.yml");
    let all = pb.plays[0]
        .tasks
        .iter()
        .filter_map(|n| match n {
            TaskNode::Task(t) => Some(t.clone()),
            TaskNode::Block(_) => None,
        })
        .collect();
    (pb, all)
}

fn preloaded(t: &Task) -> &rmesos::plan::Preloaded {
    match &t.action {
        Action::IncludeTasks { preloaded, .. } => preloaded,
        _ => panic!("{} is not an include", t.display_name()),
    }
}

#[test]
fn foreign_and_unknown_modules_in_a_dynamic_include_fail_only_when_reached() {
    let (_, all) = lazy_tasks();
    let Some(Ok(nodes)) = preloaded(&all[0]) else {
        panic!("the FreeBSD file loads");
    };
    let inner = tasks(nodes);
    for (t, words) in inner.iter().zip(["`pkgng`", "`frobnicate_widgets`"]) {
        let Action::Unavailable(e) = &t.action else {
            panic!("{} should be unavailable", t.display_name());
        };
        let text = e.to_string();
        assert!(text.contains("setup-FreeBSD.yml:"), "{text}");
        assert!(text.contains(words), "{text}");
        assert!(e.hint.is_some(), "{text}");
    }
}

#[test]
fn a_dynamic_include_that_does_not_load_is_kept_as_its_error_and_a_warning() {
    let (pb, all) = lazy_tasks();
    let Some(Err(e)) = preloaded(&all[2]) else {
        panic!("the missing file's include keeps its error");
    };
    assert!(e.to_string().contains("task file not found"), "{e}");
    // A task with bad arguments in a dynamically included file fails only where it runs.
    for i in [1, 3] {
        let Some(Ok(nodes)) = preloaded(&all[i]) else {
            panic!("task {i}: the file loads");
        };
        let inner = tasks(nodes);
        let Action::Unavailable(e) = &inner[0].action else {
            panic!("task {i}: the bad task is unavailable");
        };
        assert!(
            e.to_string().contains("unsupported argument `bogus`"),
            "{e}"
        );
    }
    // Each problem once: the unknown module, the bad argument, the missing file.
    let w = &pb.warnings;
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].contains("frobnicate_widgets"), "{}", w[0]);
    assert!(w[1].contains("broken.yml:4:5"), "{}", w[1]);
    assert!(w[2].contains("lazy/site.yml:11:7"), "{}", w[2]);
    assert!(w[2].contains("task file not found"), "{}", w[2]);
}

#[test]
fn foreign_modules_load_even_in_static_content() {
    let (_, all) = lazy_tasks();
    assert!(matches!(all[4].action, Action::Unavailable(_)));
}

#[test]
fn an_argument_that_is_a_template_is_checked_once_rendered() {
    let (_, all) = lazy_tasks();
    assert_eq!(all[5].action_name, "package");
    at(
        "bad/literal_unknown_arg.yml",
        "literal_unknown_arg.yml",
        4,
        16,
        "unsupported argument `enablerepo`",
    );
}

#[test]
fn an_unknown_module_in_a_static_import_is_still_refused() {
    at(
        "bad/unknown_module_in_import.yml",
        "setup-FreeBSD.yml",
        5,
        3,
        "`frobnicate_widgets`",
    );
}

/// A role's defaults with a double-quoted Jinja block whose lines sit left of the value (what
/// issue 11 found refused): loads, folded as PyYAML folds it.
#[test]
fn role_defaults_with_a_multiline_quoted_jinja_block() {
    let play = main_play();
    let web = named(&play.roles, "web task");
    let role = web.role.as_ref().unwrap();
    assert_eq!(
        role.defaults.get_attr("web_upstreams").unwrap(),
        Value::from(
            "{% if web_backends is defined %} {% for b in web_backends %} server {{ b }}; \
             {% endfor %} {% else %} server 127.0.0.1:8080; {% endif %}"
        )
    );
}

#[test]
fn bad_boolean_and_numeric_keywords_are_refused_where_written() {
    // `become: maybe` used to be read as false when the task ran, `timeout: -5` as no timeout.
    at(
        "bad/become_maybe.yml",
        "become_maybe.yml",
        2,
        11,
        "become must be a boolean",
    );
    at(
        "bad/timeout_negative.yml",
        "timeout_negative.yml",
        4,
        16,
        "timeout must be a whole number",
    );
}
