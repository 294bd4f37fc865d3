//! The EC2 client: settings from the standard AWS chain (environment, profiles, SSO, IMDS),
//! overridden by explicit options; retries for throttling and transient failures; every SDK
//! failure turned into one short line.

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_ec2::config::{Credentials, ProvideCredentials, Region};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use std::time::Duration;

/// A failure talking to AWS, already phrased for the operator (one line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Ec2Error(pub String);

pub type Ec2Result<T> = Result<T, Ec2Error>;

/// Static credentials given in an inventory file (Ansible's `access_key`/`secret_key`/
/// `session_token`); when absent the standard chain is used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StaticKeys {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

/// What may override the standard chain. Every field is optional.
#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    pub profile: Option<String>,
    pub region: Option<String>,
    /// `endpoint_url` option, else `AWS_ENDPOINT_URL` (read by the chain itself).
    pub endpoint_url: Option<String>,
    pub keys: Option<StaticKeys>,
}

/// A ready client and what it resolved to.
#[derive(Clone, Debug)]
pub struct Ec2 {
    pub client: aws_sdk_ec2::Client,
    pub region: String,
    /// Who we are, for cache keys: the access key id (it names one principal of one account
    /// without an STS call).
    pub identity: String,
}

const RETRY_ATTEMPTS: u32 = 6;

/// Builds a client for `region` (None: the configured region). Checks up front that a region
/// and credentials exist, so their absence is one clear line rather than a failed request.
pub async fn connect(settings: &AwsSettings, region: Option<&str>) -> Ec2Result<Ec2> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // Standard mode retries throttling (RequestLimitExceeded, Throttling) and transient
        // failures (5xx, connection resets, timeouts) with jittered backoff.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(RETRY_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200)),
        );
    if let Some(p) = &settings.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region.or(settings.region.as_deref()) {
        loader = loader.region(Region::new(r.to_string()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(k) = &settings.keys {
        loader = loader.credentials_provider(Credentials::new(
            k.access_key.clone(),
            k.secret_key.clone(),
            k.session_token.clone(),
            None,
            "inventory-file",
        ));
    }
    let cfg = loader.load().await;
    let Some(region) = cfg.region().map(|r| r.to_string()) else {
        return Err(Ec2Error(
            "no AWS region configured: pass --region (or `regions:` in the inventory), set AWS_REGION, or set `region` in the AWS profile".into(),
        ));
    };
    let custom_endpoint = settings.endpoint_url.is_some() || cfg.endpoint_url().is_some();
    if !custom_endpoint && !valid_region_name(&region) {
        return Err(Ec2Error(format!(
            "{:?} is not an AWS region name (expected e.g. us-east-1, eu-west-3)",
            region
        )));
    }
    let Some(provider) = cfg.credentials_provider() else {
        return Err(no_credentials(settings, "no credentials provider"));
    };
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| no_credentials(settings, &root_cause(&e)))?;
    let client = aws_sdk_ec2::Client::new(&cfg);
    Ok(Ec2 {
        client,
        region,
        identity: creds.access_key_id().to_string(),
    })
}

fn no_credentials(settings: &AwsSettings, cause: &str) -> Ec2Error {
    match &settings.profile {
        Some(p) => Ec2Error(format!(
            "no usable AWS credentials for profile {:?} ({}); check ~/.aws/config or run `aws sso login --profile {}`",
            p, cause, p
        )),
        None => Ec2Error(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run `aws sso login`".into(),
        ),
    }
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`, `eu-central-2`…
fn valid_region_name(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// The innermost cause of an error chain, on one line.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    one_line(&cur.to_string())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Phrases an SDK failure of operation `op` (e.g. "DescribeInstances") as one line.
pub fn sdk_error<E>(op: &str, region: &str, e: SdkError<E>) -> Ec2Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("UnknownError");
            let msg = one_line(err.message().unwrap_or(""));
            let what = match code {
                "AuthFailure"
                | "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "UnrecognizedClientException" => "AWS rejected the credentials",
                "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" => {
                    "not permitted (see docs/ec2.md for the IAM permissions)"
                }
                "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => {
                    "throttled by EC2 after retries"
                }
                "OptInRequired" => "the account is not subscribed to this region or offering",
                _ => "failed",
            };
            Ec2Error(format!(
                "EC2 {} in {} {}: {}: {}",
                op, region, what, code, msg
            ))
        }
        SdkError::DispatchFailure(d) if d.is_timeout() => Ec2Error(format!(
            "EC2 {} in {}: timed out reaching the endpoint",
            op, region
        )),
        SdkError::DispatchFailure(_) => Ec2Error(format!(
            "EC2 {} in {}: cannot reach the endpoint: {}",
            op,
            region,
            root_cause(&e)
        )),
        SdkError::TimeoutError(_) => Ec2Error(format!("EC2 {} in {}: timed out", op, region)),
        _ => Ec2Error(format!("EC2 {} in {}: {}", op, region, root_cause(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "eu-central-2",
        ] {
            assert!(valid_region_name(ok), "{ok}");
        }
        for bad in ["Mars", "us-east", "useast1", "us-east-x", "US-EAST-1", ""] {
            assert!(!valid_region_name(bad), "{bad}");
        }
    }
}
