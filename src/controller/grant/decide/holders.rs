//! Who else holds this access: the other grants whose record still gives the same user the
//! same membership or account assignment (pure, from grants read fresh by the caller).

use k8s_openapi::jiff::Timestamp;
use kube::{Resource, ResourceExt};

use crate::api::{BreakGlassGrant, BreakGlassGrantStatus, GrantKey, GrantPhase};

/// Other grants that still give this user the access `gives` finds in their record: Active,
/// unexpired, not being deleted or resolved, recorded for the same user id. The one
/// definition of "who else holds this access" (a membership, an account assignment).
pub(crate) fn holders(
    grant: &BreakGlassGrant,
    grants: &[BreakGlassGrant],
    user_id: &str,
    now: Timestamp,
    gives: impl Fn(&BreakGlassGrantStatus) -> bool,
) -> Vec<GrantKey> {
    grants
        .iter()
        .filter(|g| g.uid() != grant.uid())
        .filter(|g| g.meta().deletion_timestamp.is_none() && !g.spec.resolved)
        .filter(|g| {
            g.status.as_ref().is_some_and(|s| {
                s.phase == Some(GrantPhase::Active)
                    && s.user_id.as_deref() == Some(user_id)
                    && s.expires_at.as_ref().is_some_and(|e| e.0 > now)
                    && gives(s)
            })
        })
        .map(|g| g.key())
        .collect()
}

/// The grants, as a note names them.
pub(crate) fn names(keys: &[GrantKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(
        name: &str,
        extra_meta: &str,
        phase: &str,
        user_id: &str,
        expires: &str,
    ) -> BreakGlassGrant {
        let yaml = format!(
            "apiVersion: breakglass.dev/v1alpha1
kind: BreakGlassGrant
metadata: {{name: {name}, namespace: team, uid: uid-{name}{extra_meta}}}
spec: {{policy: p, user: alice@example.com, reason: outage}}
status:
  phase: {phase}
  userId: {user_id}
  expiresAt: \"{expires}\"
  access: {{groupMembership: {{identityStoreId: d-1, groupId: g-1, membershipId: m-{name}}}}}
"
        );
        serde_yaml::from_str(&yaml).expect("grant fixture")
    }

    #[test]
    fn only_other_active_unexpired_grants_of_the_same_user_hold() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().expect("time");
        let (later, earlier) = ("2026-01-01T13:00:00Z", "2026-01-01T11:00:00Z");
        let me = grant("me", "", "Active", "u-1", later);
        let grants = vec![
            me.clone(),
            grant("holder", "", "Active", "u-1", later),
            grant("expired", "", "Active", "u-1", earlier),
            grant("ended", "", "Ended", "u-1", later),
            grant("someone-else", "", "Active", "u-2", later),
            grant(
                "deleting",
                ", deletionTimestamp: \"2026-01-01T11:59:00Z\"",
                "Active",
                "u-1",
                later,
            ),
        ];
        assert_eq!(
            holders(&me, &grants, "u-1", now, |_| true),
            vec![GrantKey::new("team", "holder")]
        );
        // The access itself must be what the other grant records.
        assert!(holders(&me, &grants, "u-1", now, |_| false).is_empty());
        assert_eq!(
            names(&[GrantKey::new("team", "a"), GrantKey::new("team", "b")]),
            "team/a, team/b"
        );
    }
}
