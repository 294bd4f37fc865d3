//! Loop sources: `loop:` and the `with_<lookup>` family, turned into a list of items.

use minijinja::Value;
use minijinja::value::ValueKind;

fn list(v: &Value) -> Result<Vec<Value>, String> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            Ok(v.try_iter().map_err(|e| e.to_string())?.collect())
        }
        ValueKind::None | ValueKind::Undefined => Ok(vec![]),
        ValueKind::String => Ok(vec![v.clone()]),
        ValueKind::Map => {
            Err("expected a list, got a mapping (use dict2items or with_dict)".into())
        }
        _ => Ok(vec![v.clone()]),
    }
}

fn flatten_into(v: &Value, depth: Option<usize>, out: &mut Vec<Value>) {
    if matches!(v.kind(), ValueKind::Seq) && depth != Some(0) {
        if let Ok(it) = v.try_iter() {
            for x in it {
                flatten_into(&x, depth.map(|d| d - 1), out);
            }
        }
    } else {
        out.push(v.clone());
    }
}

/// Expands `with_<name>: arg` (arg already templated) to the items.
pub fn with_lookup(name: &str, arg: &Value) -> Result<Vec<Value>, String> {
    match name {
        // with_items flattens one level: [[1,2],3] -> [1,2,3].
        "items" => {
            let mut out = Vec::new();
            for x in list(arg)? {
                flatten_into(&x, Some(1), &mut out);
            }
            Ok(out)
        }
        "list" => list(arg),
        "flattened" => {
            let mut out = Vec::new();
            flatten_into(arg, None, &mut out);
            Ok(out)
        }
        "indexed_items" => Ok(list(arg)?
            .into_iter()
            .enumerate()
            .map(|(i, x)| Value::from(vec![Value::from(i), x]))
            .collect()),
        "dict" => {
            if arg.kind() != ValueKind::Map {
                return Err("with_dict expects a mapping".into());
            }
            let keys: Vec<Value> = arg.try_iter().map_err(|e| e.to_string())?.collect();
            Ok(keys
                .into_iter()
                .map(|k| {
                    let v = arg.get_item(&k).unwrap_or_default();
                    Value::from_pairs([("key".to_string(), k), ("value".to_string(), v)])
                })
                .collect())
        }
        "together" => {
            let lists: Vec<Vec<Value>> = list(arg)?.iter().map(list).collect::<Result<_, _>>()?;
            let n = lists.iter().map(|l| l.len()).max().unwrap_or(0);
            Ok((0..n)
                .map(|i| {
                    Value::from(
                        lists
                            .iter()
                            .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect())
        }
        "nested" | "cartesian" => {
            let lists: Vec<Vec<Value>> = list(arg)?.iter().map(list).collect::<Result<_, _>>()?;
            let mut acc: Vec<Vec<Value>> = vec![vec![]];
            for l in lists {
                let mut next = Vec::new();
                for prefix in &acc {
                    for x in &l {
                        let mut p = prefix.clone();
                        p.push(x.clone());
                        next.push(p);
                    }
                }
                acc = next;
            }
            Ok(acc.into_iter().map(Value::from).collect())
        }
        "subelements" => {
            let parts = list(arg)?;
            if parts.len() < 2 {
                return Err("with_subelements expects [list, 'key'] (and optionally flags)".into());
            }
            let key = parts[1]
                .as_str()
                .ok_or("with_subelements: the second element must be a key name")?
                .to_string();
            let skip_missing = parts
                .get(2)
                .and_then(|f| f.get_attr("skip_missing").ok())
                .is_some_and(|v| v.is_true());
            let mut out = Vec::new();
            for outer in list(&parts[0])? {
                let mut sub = outer.clone();
                for k in key.split('.') {
                    sub = sub.get_attr(k).unwrap_or(Value::UNDEFINED);
                }
                if sub.is_undefined() {
                    if skip_missing {
                        continue;
                    }
                    return Err(format!(
                        "could not find '{}' key in an item of with_subelements",
                        key
                    ));
                }
                for inner in list(&sub)? {
                    out.push(Value::from(vec![outer.clone(), inner]));
                }
            }
            Ok(out)
        }
        "sequence" => sequence(arg),
        "fileglob" => {
            let mut out = Vec::new();
            for pat in list(arg)? {
                let pat = pat
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| pat.to_string());
                let paths = glob::glob(&pat).map_err(|e| format!("bad glob {:?}: {}", pat, e))?;
                for p in paths.flatten() {
                    if p.is_file() {
                        out.push(Value::from(p.display().to_string()));
                    }
                }
            }
            Ok(out)
        }
        "lines" => {
            let mut out = Vec::new();
            for cmd in list(arg)? {
                let cmd = cmd
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| cmd.to_string());
                let o = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&cmd)
                    .output()
                    .map_err(|e| format!("with_lines: {}", e))?;
                if !o.status.success() {
                    return Err(format!("with_lines: {:?} failed", cmd));
                }
                out.extend(String::from_utf8_lossy(&o.stdout).lines().map(Value::from));
            }
            Ok(out)
        }
        "random_choice" => {
            let items = list(arg)?;
            let n = items.len();
            if n == 0 {
                return Ok(vec![]);
            }
            let pick = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as usize)
                .unwrap_or(0))
                % n;
            Ok(vec![items[pick].clone()])
        }
        other => Err(format!(
            "with_{} is not supported (supported: items, list, dict, together, nested, subelements, sequence, fileglob, indexed_items, flattened, lines, random_choice); use loop: with a filter instead",
            other
        )),
    }
}

/// `with_sequence: start=1 end=5 stride=1 format=host%02d` or `count=N`.
fn sequence(arg: &Value) -> Result<Vec<Value>, String> {
    let spec = arg
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| arg.to_string());
    let (mut start, mut end, mut stride, mut count, mut format) = (1i64, None, 1i64, None, None);
    let shorthand = spec.trim();
    if !shorthand.contains('=') {
        // "4-8/2:host%02d" shorthand
        let (range, fmt) = match shorthand.split_once(':') {
            Some((r, f)) => (r, Some(f.to_string())),
            None => (shorthand, None),
        };
        let (range, st) = match range.split_once('/') {
            Some((r, s)) => (r, s.parse().map_err(|_| "bad stride")?),
            None => (range, 1),
        };
        match range.split_once('-') {
            Some((a, b)) => {
                start = a.parse().map_err(|_| "bad start")?;
                end = Some(b.parse().map_err(|_| "bad end")?);
            }
            None => end = Some(range.parse().map_err(|_| "bad end")?),
        }
        stride = st;
        format = fmt;
    } else {
        for tok in spec.split_whitespace() {
            let (k, v) = tok
                .split_once('=')
                .ok_or_else(|| format!("bad with_sequence token {:?}", tok))?;
            let num = |v: &str| -> Result<i64, String> {
                if let Some(h) = v.strip_prefix("0x") {
                    i64::from_str_radix(h, 16).map_err(|_| format!("bad number {:?}", v))
                } else {
                    v.parse().map_err(|_| format!("bad number {:?}", v))
                }
            };
            match k {
                "start" => start = num(v)?,
                "end" => end = Some(num(v)?),
                "stride" => stride = num(v)?,
                "count" => count = Some(num(v)?),
                "format" => format = Some(v.to_string()),
                _ => return Err(format!("unknown with_sequence option {:?}", k)),
            }
        }
    }
    let end = match (end, count) {
        (Some(_), Some(_)) => return Err("with_sequence: give end or count, not both".into()),
        (Some(e), None) => e,
        (None, Some(c)) => start + (c - 1) * stride,
        (None, None) => return Err("with_sequence needs end or count".into()),
    };
    if stride == 0 {
        return Err("with_sequence: stride must not be 0".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::from(match &format {
            Some(f) => printf_int(f, i),
            None => i.to_string(),
        }));
        i += stride;
    }
    Ok(out)
}

/// Minimal printf for one integer: %d, %Nd, %0Nd, %x, %o, %s.
fn printf_int(fmt: &str, n: i64) -> String {
    let re = regex::Regex::new(r"%(0?)(\d*)([dxXos])").ok();
    let Some(re) = re else { return fmt.to_string() };
    re.replace(fmt, |c: &regex::Captures| {
        let zero = &c[1] == "0";
        let width: usize = c[2].parse().unwrap_or(0);
        let s = match &c[3] {
            "x" => format!("{:x}", n),
            "X" => format!("{:X}", n),
            "o" => format!("{:o}", n),
            _ => n.to_string(),
        };
        if zero {
            format!("{:0>width$}", s, width = width)
        } else {
            format!("{:>width$}", s, width = width)
        }
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<Value>) -> Vec<String> {
        v.into_iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn items_flatten_one_level() {
        let v = Value::from(vec![
            Value::from(vec![Value::from(1), Value::from(2)]),
            Value::from(3),
        ]);
        assert_eq!(strs(with_lookup("items", &v).unwrap()), vec!["1", "2", "3"]);
    }

    #[test]
    fn sequence_forms() {
        assert_eq!(
            strs(with_lookup("sequence", &Value::from("start=1 end=3 format=slave%02d")).unwrap()),
            vec!["slave01", "slave02", "slave03"]
        );
        assert_eq!(
            strs(with_lookup("sequence", &Value::from("count=2")).unwrap()),
            vec!["1", "2"]
        );
        assert_eq!(
            strs(with_lookup("sequence", &Value::from("0-4/2")).unwrap()),
            vec!["0", "2", "4"]
        );
    }

    #[test]
    fn together_and_nested() {
        let a = Value::from(vec![
            Value::from(vec![Value::from("a"), Value::from("b")]),
            Value::from(vec![Value::from(1)]),
        ]);
        let t = with_lookup("together", &a).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].get_item_by_index(1).unwrap().to_string(), "None");
        assert_eq!(with_lookup("nested", &a).unwrap().len(), 2);
    }

    #[test]
    fn dict_items() {
        let d = Value::from_pairs([("x".to_string(), Value::from(1))]);
        let items = with_lookup("dict", &d).unwrap();
        assert_eq!(items[0].get_attr("key").unwrap().to_string(), "x");
        assert_eq!(items[0].get_attr("value").unwrap().to_string(), "1");
    }
}
