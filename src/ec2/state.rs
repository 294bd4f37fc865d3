//! What a launch remembers for the deploys that follow (`start`, `add-slaves`, `deploy`,
//! `status`…): the playbook, extra vars, login user, identity file and inventory settings.
//!
//! It is kept where the cluster's other state is, in EC2 tags, so it survives the controller:
//! on the cluster's master security group (`CLUSTER-master`), which lives as long as the
//! cluster. A tag value holds at most 256 characters, so the record (JSON) is cut into
//! `rmesos-deploy-0`, `rmesos-deploy-1`… and `rmesos-deploy-chunks` says how many there are (a
//! shorter record written later leaves stale higher chunks, which the count makes harmless).
//! At most [`MAX_CHUNKS`] chunks (10 KiB): a larger record is refused with a hint (put the
//! variables in a file and pass `-e @file`, whose path is kept, not its content).
//!
//! Tags are readable by anyone allowed `ec2:DescribeSecurityGroups`: secrets do not belong in
//! `-e` values (the guide says so).

use super::client::{Ec2, Ec2Error, Ec2Result, sdk_error};
use super::cluster::{Role, TAG_CLUSTER};
use super::hostvars::tag_dict;
use aws_sdk_ec2::types::{Filter, Tag};
use serde::{Deserialize, Serialize};

pub const TAG_CHUNK_PREFIX: &str = "rmesos-deploy-";
pub const TAG_CHUNKS: &str = "rmesos-deploy-chunks";
/// EC2's limit on a tag value, in characters.
pub const TAG_VALUE_MAX: usize = 256;
/// A resource holds 50 tags; the group has 3 of its own and the count.
pub const MAX_CHUNKS: usize = 40;

/// How the cluster is deployed, as the launch was told (paths made absolute).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_vars: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compose: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostnames: Option<String>,
}

/// The record as tags: `(key, value)`, the count last. Refused when too large.
pub fn to_tags(r: &DeployRecord) -> Ec2Result<Vec<(String, String)>> {
    let text = serde_json::to_string(r).map_err(|e| Ec2Error(e.to_string()))?;
    let chars: Vec<char> = text.chars().collect();
    let chunks: Vec<String> = chars
        .chunks(TAG_VALUE_MAX)
        .map(|c| c.iter().collect())
        .collect();
    if chunks.len() > MAX_CHUNKS {
        return Err(Ec2Error(format!(
            "the deploy settings ({} characters) do not fit in the cluster's tags (at most {}); \
             put the extra vars in a file and pass -e @FILE",
            chars.len(),
            MAX_CHUNKS * TAG_VALUE_MAX
        )));
    }
    let mut tags: Vec<(String, String)> = chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| (format!("{TAG_CHUNK_PREFIX}{i}"), c))
        .collect();
    tags.push((TAG_CHUNKS.to_string(), tags.len().to_string()));
    Ok(tags)
}

/// The record from a resource's tags: `None` when there is none, an error when it is cut or
/// unreadable.
pub fn from_tags(
    tags: &serde_json::Map<String, serde_json::Value>,
) -> Ec2Result<Option<DeployRecord>> {
    let Some(count) = tags.get(TAG_CHUNKS).and_then(|v| v.as_str()) else {
        return Ok(None);
    };
    let bad = |why: &str| Ec2Error(format!("the cluster's deploy tags are damaged: {why}"));
    let count: usize = count.parse().map_err(|_| bad("bad chunk count"))?;
    let mut text = String::new();
    for i in 0..count {
        let chunk = tags
            .get(&format!("{TAG_CHUNK_PREFIX}{i}"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad(&format!("{TAG_CHUNK_PREFIX}{i} is missing")))?;
        text.push_str(chunk);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| bad(&e.to_string()))
}

/// The cluster's master security group: id and tags.
async fn master_group(
    ec2: &Ec2,
    cluster: &str,
) -> Ec2Result<Option<(String, serde_json::Map<String, serde_json::Value>)>> {
    let out = ec2
        .client
        .describe_security_groups()
        .filters(
            Filter::builder()
                .name(format!("tag:{TAG_CLUSTER}"))
                .values(cluster)
                .build(),
        )
        .filters(
            Filter::builder()
                .name("group-name")
                .values(Role::Master.group_name(cluster))
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk_error("DescribeSecurityGroups", &ec2.region, e))?;
    Ok(out.security_groups().first().map(|g| {
        (
            g.group_id().unwrap_or_default().to_string(),
            tag_dict(g.tags()),
        )
    }))
}

/// Writes the record onto the group `group_id` (the cluster's master group).
pub async fn save(ec2: &Ec2, group_id: &str, r: &DeployRecord) -> Ec2Result<()> {
    let tags: Vec<Tag> = to_tags(r)?
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    ec2.client
        .create_tags()
        .resources(group_id)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| sdk_error("CreateTags", &ec2.region, e))?;
    Ok(())
}

/// The record the cluster's launch kept (`None` for a cluster launched before records, or
/// whose groups are gone).
pub async fn load(ec2: &Ec2, cluster: &str) -> Ec2Result<Option<DeployRecord>> {
    match master_group(ec2, cluster).await? {
        Some((_, tags)) => from_tags(&tags),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(tags: Vec<(String, String)>) -> serde_json::Map<String, serde_json::Value> {
        tags.into_iter().map(|(k, v)| (k, v.into())).collect()
    }

    #[test]
    fn a_long_record_is_cut_into_tag_sized_chunks_and_read_back() {
        let r = DeployRecord {
            playbook: Some("/srv/site.yml".into()),
            extra_vars: vec![format!("note={}", "é".repeat(700)), "a=1".into()],
            ..DeployRecord::default()
        };
        let tags = to_tags(&r).unwrap();
        assert_eq!(tags.len(), 4, "3 chunks and the count");
        assert!(tags.iter().all(|(_, v)| v.chars().count() <= TAG_VALUE_MAX));
        assert_eq!(tags.last().unwrap(), &(TAG_CHUNKS.into(), "3".into()));
        assert_eq!(from_tags(&map(tags)).unwrap(), Some(r));
    }

    #[test]
    fn stale_chunks_are_ignored_missing_ones_are_an_error() {
        let r = DeployRecord {
            user: Some("root".into()),
            ..DeployRecord::default()
        };
        let mut tags = to_tags(&r).unwrap();
        tags.push((format!("{TAG_CHUNK_PREFIX}1"), "stale".into()));
        assert_eq!(from_tags(&map(tags)).unwrap(), Some(r));
        let cut = vec![(TAG_CHUNKS.to_string(), "2".to_string())];
        assert!(from_tags(&map(cut)).is_err());
        assert_eq!(from_tags(&map(vec![])).unwrap(), None);
    }

    #[test]
    fn too_large_a_record_is_refused() {
        let r = DeployRecord {
            extra_vars: vec!["x".repeat(MAX_CHUNKS * TAG_VALUE_MAX)],
            ..DeployRecord::default()
        };
        assert!(to_tags(&r).unwrap_err().0.contains("-e @FILE"));
    }
}
