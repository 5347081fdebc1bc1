//! Reading what a decision needs: the AWS target of a grant, and the other grants that share
//! its access or its pauses (fresh from the API server, never from the cache).

use std::collections::BTreeSet;

use kube::{
    Api, ResourceExt,
    api::{ListParams, VersionMatch},
};

use super::pass::Pass;
use crate::{
    api::{BreakGlassGrant, BreakGlassPolicySpec, GrantKey, GrantPhase},
    aws::{self, ActAs},
    controller::error::Error,
};

/// Everything needed to act on AWS for this grant, from the policy or, once granted, from
/// the grant's own record (so a deleted policy does not block revocation).
pub(crate) fn target(
    grant: &BreakGlassGrant,
    policy: Option<&BreakGlassPolicySpec>,
) -> Option<ActAs> {
    let session_name = aws::session_name(&grant.namespace().unwrap_or_default(), &grant.name_any());
    let status = grant.status.as_ref();
    let read_role_arn = policy.and_then(|p| p.aws.read_role_arn.clone());
    if let Some(session) = status.and_then(|s| s.aws.as_ref()) {
        let identity_store_id = status
            .and_then(|s| s.access.as_ref()?.group_membership.as_ref())
            .map(|m| m.identity_store_id.clone())
            .or_else(|| policy.map(|p| p.aws.identity_store_id.clone()))
            .unwrap_or_default();
        return Some(ActAs {
            role_arn: session.role_arn.clone(),
            read_role_arn,
            external_id: session.external_id.clone(),
            region: session.region.clone(),
            identity_store_id,
            session_name,
        });
    }
    policy.map(|p| ActAs {
        role_arn: p.aws.role_arn.clone(),
        read_role_arn,
        external_id: p.aws.external_id.clone(),
        region: p.aws.region.clone(),
        identity_store_id: p.aws.identity_store_id.clone(),
        session_name,
    })
}

/// The policy's own target for this grant: its current role and ExternalId, for when the
/// recorded ones are refused (rotated).
pub(crate) fn current_target(
    grant: &BreakGlassGrant,
    policy: Option<&BreakGlassPolicySpec>,
) -> Option<ActAs> {
    let recorded = target(grant, policy)?;
    let p = policy?;
    let current = ActAs {
        role_arn: p.aws.role_arn.clone(),
        external_id: p.aws.external_id.clone(),
        region: p.aws.region.clone(),
        ..recorded.clone()
    };
    (current != recorded && p.aws.identity_store_id == recorded.identity_store_id)
        .then_some(current)
}

/// Runs a revocation `call` as the recorded role; should AWS refuse it (the role or its
/// ExternalId rotated since), as the policy's current one. Both refused: the error goes to
/// the grant (Stalled) and the retry with backoff — never silently given up. A session
/// that failed is dropped, so the retry assumes the role afresh.
pub(crate) async fn with_role_fallback<T, F, Fut>(
    pass: &Pass<'_>,
    target: &ActAs,
    call: F,
) -> Result<T, aws::Error>
where
    F: Fn(ActAs) -> Fut,
    Fut: std::future::Future<Output = Result<T, aws::Error>>,
{
    let ctx = pass.ctx;
    let attempt = |t: ActAs| {
        let call = &call;
        async move {
            let out = call(t.clone()).await;
            if out.is_err() {
                ctx.aws.forget(&t).await;
            }
            out
        }
    };
    match attempt(target.clone()).await {
        Err(e) if e.is_access_denied() => match current_target(pass.grant, pass.policy) {
            Some(current) => {
                tracing::warn!(error = %e, role = %current.role_arn, "the recorded role was refused; revoking as the policy's current role");
                attempt(current).await
            }
            None => Err(e),
        },
        other => other,
    }
}

/// Grants in the cluster (those of `user` only, when given), from the API server rather than
/// the watch cache: decisions about shared access and shared pauses must not act on stale
/// state.
pub(crate) async fn list_grants(
    pass: &Pass<'_>,
    user: Option<&str>,
) -> Result<Vec<BreakGlassGrant>, Error> {
    let grant = pass.grant;
    let all: Api<BreakGlassGrant> = Api::all(pass.ctx.client.clone());
    let mut params = match user {
        Some(u) => ListParams::default().fields(&format!("spec.user={}", field_value(u))),
        None => ListParams::default(),
    };
    // Served from the API server's watch cache once it has caught up with this grant's own
    // version: as fresh as the decision needs, and never a read of every grant from etcd
    // (at 10,000 grants, concurrent endings that each read them all exhausted etcd).
    if let Some(rv) = &grant.metadata.resource_version {
        params = params.at(rv).matching(VersionMatch::NotOlderThan);
    }
    all.list(&params)
        .await
        .map(|l| l.items)
        .map_err(|source| Error::Load {
            grant: pass.me.clone(),
            what: "listing the grants that share its access or pauses",
            source,
        })
}

/// The grants of this grant's user: the only ones that can share its access. A field
/// selector keeps a revocation's cost independent of how many grants exist.
pub(crate) async fn list_user_grants(pass: &Pass<'_>) -> Result<Vec<BreakGlassGrant>, Error> {
    list_grants(pass, Some(&pass.grant.spec.user)).await
}

/// A field selector value with its separators escaped, as apimachinery's `EscapeValue`.
pub(crate) fn field_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
}

/// Keys of grants that still count as holders of a pause: not Ended or Denied.
pub(crate) fn live_grants(grants: &[BreakGlassGrant]) -> BTreeSet<GrantKey> {
    grants
        .iter()
        .filter(|g| {
            !g.status
                .as_ref()
                .is_some_and(|s| matches!(s.phase, Some(GrantPhase::Ended | GrantPhase::Denied)))
        })
        .map(|g| g.key())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::field_value;

    #[test]
    fn field_selector_values_escape_their_separators() {
        assert_eq!(field_value("alice@example.com"), "alice@example.com");
        assert_eq!(field_value(r"a,b=c\d"), r"a\,b\=c\\d");
    }
}
