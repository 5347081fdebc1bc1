//! Who asked: the caller's Kubernetes identity (SelfSubjectReview), and the admission policy
//! that makes the API server check `spec.requestedBy` and `spec.user` against it.

pub mod admission;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::{Api, Client, api::PostParams};

/// The custom RBAC verb on `breakglasspolicies` that lets a requester ask for someone else.
pub const ON_BEHALF_VERB: &str = "request-on-behalf";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("asking the API server who you are (SelfSubjectReview): {0}")]
    Review(#[source] kube::Error),
    #[error("the API server did not say who you are (SelfSubjectReview has no username)")]
    NoUsername,
}

/// The caller's Kubernetes username, as the API server authenticated it.
pub async fn whoami(client: &Client) -> Result<String, Error> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(Error::Review)?;
    review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .filter(|u| !u.is_empty())
        .ok_or(Error::NoUsername)
}

/// The Identity Store user a Kubernetes username stands for: the username less `prefix`
/// (`oidc:alice@example.com` → `alice@example.com`). The admission policy applies the same
/// rule in CEL.
pub fn user_of(username: &str, prefix: &str) -> String {
    username.strip_prefix(prefix).unwrap_or(username).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_dropped_only_when_present() {
        assert_eq!(
            user_of("oidc:alice@example.com", "oidc:"),
            "alice@example.com"
        );
        assert_eq!(user_of("alice@example.com", "oidc:"), "alice@example.com");
        assert_eq!(user_of("alice@example.com", ""), "alice@example.com");
    }
}
