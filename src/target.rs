//! Where the command line's AWS calls go: a local emulator, or real AWS. A command that
//! writes must not change production by accident (a forgotten `make world`), so real AWS
//! is an explicit choice, and the account and region are printed before the first write.

use std::fmt;

use crate::config::Config;
use crate::error::{Error, Result};

/// The AWS the calls go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An endpoint URL is configured for every service (`AWS_ENDPOINT_URL`, or
    /// `endpoint_url` in the shared config profile): a local emulator such as the world.
    Local { endpoint: String },
    /// No global endpoint URL: the calls go to AWS itself.
    Real { account: String, region: String },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local { endpoint } => write!(f, "the endpoint {endpoint}"),
            Target::Real { account, region } => {
                write!(f, "real AWS, account {account}, region {region}")
            }
        }
    }
}

impl Target {
    /// Decides the target from the SDK's resolved endpoint URL and region.
    ///
    /// Only a global endpoint URL counts as local: the SDK also takes per-service
    /// endpoints (`AWS_ENDPOINT_URL_ECS`, ...), and a command that finds only some of them
    /// set may still reach AWS with the others, so it is treated as real. The account is
    /// the one the configured listener or rule lives in, which is the one a write changes.
    ///
    /// The SDK reads `AWS_ENDPOINT_URL` and the profile's `endpoint_url` into the shared
    /// config: <https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html>.
    pub fn resolve(config: &Config, endpoint: Option<&str>, region: Option<&str>) -> Result<Self> {
        if let Some(endpoint) = endpoint {
            return Ok(Target::Local {
                endpoint: endpoint.to_string(),
            });
        }
        let (arn_region, account) = arn_region_and_account(config.site.arn());
        let Some(region) = region else {
            return Err(Error::Config(format!(
                "no AWS region is configured; set AWS_REGION to {arn_region}, the region of {}",
                config.site.variable()
            )));
        };
        if region != arn_region {
            return Err(Error::Config(format!(
                "the AWS region is {region} but {} is in {arn_region}; set AWS_REGION={arn_region}",
                config.site.variable()
            )));
        }
        Ok(Target::Real {
            account: account.to_string(),
            region: region.to_string(),
        })
    }

    /// Resolves the target from the SDK's shared config (see [`crate::aws::shared_config`]).
    pub fn from_shared(config: &Config, shared: &aws_config::SdkConfig) -> Result<Self> {
        Self::resolve(
            config,
            shared.endpoint_url(),
            shared.region().map(|r| r.as_ref()),
        )
    }

    pub fn is_real(&self) -> bool {
        matches!(self, Target::Real { .. })
    }
}

/// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:...`; the config checked the form.
fn arn_region_and_account(arn: &str) -> (&str, &str) {
    let mut parts = arn.split(':').skip(3);
    (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    )
}

/// How a writing command may go, given its target and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Write (a local emulator, or real AWS with `--aws --yes`).
    Write,
    /// Plan and print only: `--dry-run`, or real AWS without `--yes`.
    DryRun,
}

/// Real AWS needs `--aws`; without `--yes` it is a dry run. A local target needs neither.
pub fn permission(target: &Target, aws: bool, yes: bool, dry_run: bool) -> Result<Permission> {
    if target.is_real() && !aws {
        return Err(Error::BadInput(format!(
            "no AWS_ENDPOINT_URL is set, so this would change {target} with the credentials \
             of the environment. To use the local world, run `make world` (or set \
             AWS_ENDPOINT_URL). To use real AWS, pass --aws (a dry run) and --yes to write."
        )));
    }
    Ok(if dry_run || (target.is_real() && !yes) {
        Permission::DryRun
    } else {
        Permission::Write
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::test_config;

    fn real() -> Target {
        Target::resolve(&test_config(), None, Some("us-east-1")).unwrap()
    }

    #[test]
    fn an_endpoint_url_is_local_and_none_is_real_aws_in_the_listeners_account() {
        let config = test_config();
        assert_eq!(
            Target::resolve(&config, Some("http://127.0.0.1:5000"), None).unwrap(),
            Target::Local {
                endpoint: "http://127.0.0.1:5000".into()
            }
        );
        assert_eq!(
            real(),
            Target::Real {
                account: "123456789012".into(),
                region: "us-east-1".into()
            }
        );
        assert_eq!(
            real().to_string(),
            "real AWS, account 123456789012, region us-east-1"
        );
    }

    #[test]
    fn real_aws_in_another_region_than_the_listener_is_refused() {
        let err = Target::resolve(&test_config(), None, Some("eu-west-1")).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(
            text.contains("eu-west-1") && text.contains("AWS_REGION=us-east-1"),
            "{text}"
        );
        let err = Target::resolve(&test_config(), None, None).unwrap_err();
        assert!(
            err.to_string().contains("set AWS_REGION to us-east-1"),
            "{err}"
        );
    }

    #[test]
    fn real_aws_needs_aws_and_writes_only_with_yes() {
        let err = permission(&real(), false, false, false).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--aws"), "{err}");
        assert!(permission(&real(), false, true, false).is_err());
        assert_eq!(
            permission(&real(), true, false, false).unwrap(),
            Permission::DryRun
        );
        assert_eq!(
            permission(&real(), true, true, false).unwrap(),
            Permission::Write
        );
        assert_eq!(
            permission(&real(), true, true, true).unwrap(),
            Permission::DryRun
        );
    }

    #[test]
    fn a_local_endpoint_writes_without_flags_unless_dry_run() {
        let local = Target::Local {
            endpoint: "http://127.0.0.1:5000".into(),
        };
        assert_eq!(
            permission(&local, false, false, false).unwrap(),
            Permission::Write
        );
        assert_eq!(
            permission(&local, false, false, true).unwrap(),
            Permission::DryRun
        );
    }
}
