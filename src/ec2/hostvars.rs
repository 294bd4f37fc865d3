//! An EC2 instance as Ansible's aws_ec2 plugin shows it: boto3's DescribeInstances record in
//! snake_case, `tags` as a dict, `placement.region` added, the reservation's owner, requester
//! and id merged in. Absent attributes are left out (not null), so `compose` expressions over
//! them are undefined exactly when Ansible's are.

use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ec2::types::{GroupIdentifier, Instance, Reservation, Tag};
use serde_json::{Map, Value as Json};

/// Builds one insertion-ordered object, skipping `None`s.
struct Obj(Map<String, Json>);

impl Obj {
    fn new() -> Self {
        Obj(Map::new())
    }
    fn put(&mut self, k: &str, v: Option<Json>) -> &mut Self {
        if let Some(v) = v {
            self.0.insert(k.to_string(), v);
        }
        self
    }
    fn s(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        self.put(k, v.map(Json::from))
    }
    fn done(&mut self) -> Json {
        Json::Object(std::mem::take(&mut self.0))
    }
}

/// boto3 prints timestamps as Python datetimes, which Ansible serialises `+00:00`.
fn time(t: Option<&DateTime>) -> Option<Json> {
    let t = t?.fmt(DateTimeFormat::DateTime).ok()?;
    Some(Json::from(match t.strip_suffix('Z') {
        Some(base) => format!("{}+00:00", base),
        None => t,
    }))
}

fn groups(g: &[GroupIdentifier]) -> Json {
    Json::Array(
        g.iter()
            .map(|g| {
                Obj::new()
                    .s("group_id", g.group_id())
                    .s("group_name", g.group_name())
                    .done()
            })
            .collect(),
    )
}

/// `[{Key, Value}]` → `{key: value}` (boto3_tag_list_to_ansible_dict).
pub fn tag_dict(tags: &[Tag]) -> Map<String, Json> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), Json::from(t.value().unwrap_or("")))))
        .collect()
}

/// The host variables of one instance.
pub fn instance_vars(r: &Reservation, i: &Instance) -> Json {
    let mut o = Obj::new();
    o.put("ami_launch_index", i.ami_launch_index().map(Json::from))
        .s("architecture", i.architecture().map(|a| a.as_str()))
        .put(
            "block_device_mappings",
            Some(Json::Array(
                i.block_device_mappings()
                    .iter()
                    .map(|b| {
                        Obj::new()
                            .s("device_name", b.device_name())
                            .put(
                                "ebs",
                                b.ebs().map(|e| {
                                    Obj::new()
                                        .put("attach_time", time(e.attach_time()))
                                        .put(
                                            "delete_on_termination",
                                            e.delete_on_termination().map(Json::from),
                                        )
                                        .s("status", e.status().map(|s| s.as_str()))
                                        .s("volume_id", e.volume_id())
                                        .done()
                                }),
                            )
                            .done()
                    })
                    .collect(),
            )),
        )
        .s("client_token", i.client_token())
        .put(
            "cpu_options",
            i.cpu_options().map(|c| {
                Obj::new()
                    .put("core_count", c.core_count().map(Json::from))
                    .put("threads_per_core", c.threads_per_core().map(Json::from))
                    .done()
            }),
        )
        .put("ebs_optimized", i.ebs_optimized().map(Json::from))
        .put("ena_support", i.ena_support().map(Json::from))
        .s("hypervisor", i.hypervisor().map(|h| h.as_str()))
        .put(
            "iam_instance_profile",
            i.iam_instance_profile()
                .map(|p| Obj::new().s("arn", p.arn()).s("id", p.id()).done()),
        )
        .s("image_id", i.image_id())
        .s("instance_id", i.instance_id())
        .s(
            "instance_lifecycle",
            i.instance_lifecycle().map(|l| l.as_str()),
        )
        .s("instance_type", i.instance_type().map(|t| t.as_str()))
        .s("kernel_id", i.kernel_id())
        .s("key_name", i.key_name())
        .put("launch_time", time(i.launch_time()))
        .put(
            "monitoring",
            i.monitoring()
                .map(|m| Obj::new().s("state", m.state().map(|s| s.as_str())).done()),
        )
        .put(
            "network_interfaces",
            Some(Json::Array(
                i.network_interfaces()
                    .iter()
                    .map(|n| {
                        Obj::new()
                            .put(
                                "association",
                                n.association().map(|a| {
                                    Obj::new()
                                        .s("ip_owner_id", a.ip_owner_id())
                                        .s("public_dns_name", a.public_dns_name())
                                        .s("public_ip", a.public_ip())
                                        .done()
                                }),
                            )
                            .s("description", n.description())
                            .put("groups", Some(groups(n.groups())))
                            .s("mac_address", n.mac_address())
                            .s("network_interface_id", n.network_interface_id())
                            .s("owner_id", n.owner_id())
                            .s("private_dns_name", n.private_dns_name())
                            .s("private_ip_address", n.private_ip_address())
                            .put("source_dest_check", n.source_dest_check().map(Json::from))
                            .s("status", n.status().map(|s| s.as_str()))
                            .s("subnet_id", n.subnet_id())
                            .s("vpc_id", n.vpc_id())
                            .done()
                    })
                    .collect(),
            )),
        );
    let zone = i
        .placement()
        .and_then(|p| p.availability_zone())
        .unwrap_or("");
    o.put(
        "placement",
        i.placement().map(|p| {
            Obj::new()
                .s("availability_zone", p.availability_zone())
                .s("group_name", p.group_name())
                .s("tenancy", p.tenancy().map(|t| t.as_str()))
                // Ansible's addition, for grouping by region: the zone without its letter.
                .s("region", zone.get(..zone.len().saturating_sub(1)))
                .done()
        }),
    )
    .s("platform", i.platform().map(|p| p.as_str()))
    .s("private_dns_name", i.private_dns_name())
    .s("private_ip_address", i.private_ip_address())
    .put(
        "product_codes",
        Some(Json::Array(
            i.product_codes()
                .iter()
                .map(|p| {
                    Obj::new()
                        .s("product_code_id", p.product_code_id())
                        .s(
                            "product_code_type",
                            p.product_code_type().map(|t| t.as_str()),
                        )
                        .done()
                })
                .collect(),
        )),
    )
    .s("public_dns_name", i.public_dns_name())
    .s("public_ip_address", i.public_ip_address())
    .s("ramdisk_id", i.ramdisk_id())
    .s("root_device_name", i.root_device_name())
    .s("root_device_type", i.root_device_type().map(|t| t.as_str()))
    .put("security_groups", Some(groups(i.security_groups())))
    .put("source_dest_check", i.source_dest_check().map(Json::from))
    .s("spot_instance_request_id", i.spot_instance_request_id())
    .put(
        "state",
        i.state().map(|s| {
            Obj::new()
                .put("code", s.code().map(Json::from))
                .s("name", s.name().map(|n| n.as_str()))
                .done()
        }),
    )
    .put(
        "state_reason",
        i.state_reason().map(|s| {
            Obj::new()
                .s("code", s.code())
                .s("message", s.message())
                .done()
        }),
    )
    .s("state_transition_reason", i.state_transition_reason())
    .s("subnet_id", i.subnet_id())
    .put("tags", Some(Json::Object(tag_dict(i.tags()))))
    .s(
        "virtualization_type",
        i.virtualization_type().map(|v| v.as_str()),
    )
    .s("vpc_id", i.vpc_id())
    .s("owner_id", r.owner_id())
    .put(
        "requester_id",
        Some(Json::from(r.requester_id().unwrap_or_default())),
    )
    .s("reservation_id", r.reservation_id());
    o.done()
}

/// The value a describe-instances filter name stands for in an instance's variables, as the
/// hostnames option reads it (Ansible's table, in snake_case). A list with one element is that
/// element, as in Ansible.
pub fn filter_value(vars: &Json, filter: &str) -> Option<Json> {
    let path = filter_path(filter)?;
    let mut cur = vars.clone();
    for key in path {
        cur = step(&cur, key)?;
    }
    match cur {
        Json::Array(mut a) if a.len() == 1 => a.pop(),
        other => Some(other),
    }
}

fn step(v: &Json, key: &str) -> Option<Json> {
    match v {
        Json::Array(items) => {
            let vals: Vec<Json> = items
                .iter()
                .filter_map(|x| step(x, key))
                .filter(|x| !matches!(x, Json::Null))
                .collect();
            Some(Json::Array(vals))
        }
        Json::Object(m) => m.get(key).cloned(),
        _ => None,
    }
}

/// describe-instances filter names usable in `hostnames`, and where they point.
fn filter_path(filter: &str) -> Option<&'static [&'static str]> {
    Some(match filter {
        "architecture" => &["architecture"],
        "availability-zone" | "network-interface.availability-zone" => {
            &["placement", "availability_zone"]
        }
        "client-token" => &["client_token"],
        "dns-name" => &["public_dns_name"],
        "group-id" | "instance.group-id" => &["security_groups", "group_id"],
        "group-name" | "instance.group-name" => &["security_groups", "group_name"],
        "hypervisor" => &["hypervisor"],
        "iam-instance-profile.arn" => &["iam_instance_profile", "arn"],
        "image-id" => &["image_id"],
        "instance-id" | "network-interface.attachment.instance-id" => &["instance_id"],
        "instance-lifecycle" => &["instance_lifecycle"],
        "instance-state-code" => &["state", "code"],
        "instance-state-name" => &["state", "name"],
        "instance-type" => &["instance_type"],
        "ip-address" => &["public_ip_address"],
        "kernel-id" => &["kernel_id"],
        "key-name" => &["key_name"],
        "launch-index" => &["ami_launch_index"],
        "launch-time" => &["launch_time"],
        "monitoring-state" => &["monitoring", "state"],
        "network-interface.addresses.private-ip-address" => {
            &["network_interfaces", "private_ip_address"]
        }
        "network-interface.association.public-ip" => {
            &["network_interfaces", "association", "public_ip"]
        }
        "network-interface.mac-address" => &["network_interfaces", "mac_address"],
        "network-interface.network-interface-id" => &["network_interfaces", "network_interface_id"],
        "network-interface.private-dns-name" => &["network_interfaces", "private_dns_name"],
        "network-interface.subnet-id" => &["network_interfaces", "subnet_id"],
        "network-interface.vpc-id" => &["network_interfaces", "vpc_id"],
        "owner-id" | "network-interface.attachment.instance-owner-id" => &["owner_id"],
        "placement-group-name" => &["placement", "group_name"],
        "platform" => &["platform"],
        "private-dns-name" => &["private_dns_name"],
        "private-ip-address" => &["private_ip_address"],
        "ramdisk-id" => &["ramdisk_id"],
        "reason" => &["state_transition_reason"],
        "requester-id" => &["requester_id"],
        "reservation-id" => &["reservation_id"],
        "root-device-name" => &["root_device_name"],
        "root-device-type" => &["root_device_type"],
        "source-dest-check" => &["source_dest_check"],
        "spot-instance-request-id" => &["spot_instance_request_id"],
        "state-reason-code" => &["state_reason", "code"],
        "state-reason-message" => &["state_reason", "message"],
        "subnet-id" => &["subnet_id"],
        "tenancy" => &["placement", "tenancy"],
        "virtualization-type" => &["virtualization_type"],
        "vpc-id" => &["vpc_id"],
        _ => return None,
    })
}

/// Whether `filter` is a name `hostnames` accepts (besides `tag:…`).
pub fn is_hostname_filter(filter: &str) -> bool {
    filter_path(filter).is_some()
}

/// A value as hostname text; lists give their first element, empty values none.
pub fn as_text(v: &Json) -> Option<String> {
    let s = match v {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Json::Array(a) => return a.first().and_then(as_text),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_values_follow_lists() {
        let v = json!({
            "public_dns_name": "ec2-1.example",
            "security_groups": [{"group_id": "sg-1", "group_name": "a"}],
            "network_interfaces": [{"private_ip_address": "10.0.0.1"}, {"private_ip_address": "10.0.0.2"}],
        });
        assert_eq!(filter_value(&v, "dns-name"), Some(json!("ec2-1.example")));
        assert_eq!(filter_value(&v, "group-id"), Some(json!("sg-1")));
        assert_eq!(
            filter_value(&v, "network-interface.addresses.private-ip-address"),
            Some(json!(["10.0.0.1", "10.0.0.2"]))
        );
        assert_eq!(filter_value(&v, "ip-address"), None);
        assert_eq!(as_text(&json!("")), None);
    }
}
