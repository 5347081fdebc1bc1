//! Only the webhook's own grants count: a grant someone else made with the webhook's labels
//! (and annotations, and `status.alerts`) is neither joined, nor a record, nor written to.

use super::tests::{WEBHOOK, prod_admin, storm, written};
use super::*;
use crate::alertmanager::targets;

/// `known` as if another user had made each grant, labels and all.
fn forged(known: Vec<Known>, by: Option<&str>) -> Vec<Known> {
    known
        .into_iter()
        .map(|k| Known {
            name: format!("forged-{}", k.name),
            requested_by: by.map(str::to_owned),
            ..k
        })
        .collect()
}

#[test]
fn an_open_grant_with_the_groups_label_but_another_requester_is_not_joined() {
    let policies = [prod_admin()];
    let first = storm(1, 1, "firing");
    let (t, _) = targets(&first, &policies);
    let genuine = written(&decide(&first.alerts, &t, &[], WEBHOOK).creates);
    // The same group label, the alert's user, open, but no alert recorded yet: a grant
    // Mallory made to catch the user's next alerts.
    let trap: Vec<Known> = forged(genuine.clone(), Some("mallory@example.com"))
        .into_iter()
        .map(|k| Known {
            alerts: vec![],
            ..k
        })
        .collect();
    let d = decide(&first.alerts, &t, &trap, WEBHOOK);
    assert!(d.updates.is_empty(), "wrote to the forged grant: {d:?}");
    assert_eq!(d.creates.len(), 1, "the user's alert opens their own grant");
    assert_eq!(
        d.creates[0].group.id(),
        trap[0].group.clone().expect("group")
    );

    // With the webhook's own grant beside it, the alert joins that one only.
    let both: Vec<Known> = trap.into_iter().chain(genuine.clone()).collect();
    let next = storm(2, 1, "firing");
    let (t, _) = targets(&next, &policies);
    let d = decide(&next.alerts, &t, &both, WEBHOOK);
    assert!(d.creates.is_empty());
    let [(_, name, _)] = d.updates.as_slice() else {
        panic!("one update: {d:?}")
    };
    assert_eq!(name, &genuine[0].name);
}

#[test]
fn a_forged_record_of_the_alert_neither_repeats_nor_resolves_it() {
    let policies = [prod_admin()];
    let firing = storm(1, 1, "firing");
    let (t, _) = targets(&firing, &policies);
    let genuine = written(&decide(&firing.alerts, &t, &[], WEBHOOK).creates);
    for by in [None, Some("mallory@example.com")] {
        // Recorded firing: would make the alert a repeat, answered with no grant.
        let d = decide(&firing.alerts, &t, &forged(genuine.clone(), by), WEBHOOK);
        assert_eq!(d.creates.len(), 1, "{by:?}: {d:?}");
        assert!(d.existing.is_empty() && d.repeats == 0, "{by:?}: {d:?}");

        // Recorded resolved: would make the firing a late one that opens nothing.
        let resolved: Vec<Known> = forged(genuine.clone(), by)
            .into_iter()
            .map(|k| Known {
                open: false,
                alerts: merge(
                    &k.alerts,
                    &[GrantAlert {
                        state: AlertState::Resolved,
                        ..k.alerts[0].clone()
                    }],
                ),
                ..k
            })
            .collect();
        let d = decide(&firing.alerts, &t, &resolved, WEBHOOK);
        assert_eq!(d.creates.len(), 1, "{by:?}: {d:?}");
        assert!(
            d.already_resolved.is_empty() && d.late == 0,
            "{by:?}: {d:?}"
        );
    }

    // A resolution reaches the webhook's grant, never the forged one beside it.
    let both: Vec<Known> = forged(genuine.clone(), Some("mallory@example.com"))
        .into_iter()
        .chain(genuine.clone())
        .collect();
    let resolution = storm(1, 1, "resolved");
    let (t, _) = targets(&resolution, &policies);
    let d = decide(&resolution.alerts, &t, &both, WEBHOOK);
    let names: Vec<&str> = d.updates.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(names, vec![genuine[0].name.as_str()]);
}

#[test]
fn a_legacy_grant_counts_only_when_the_webhook_requested_it() {
    let policies = [prod_admin()];
    let p = storm(1, 1, "firing");
    let (t, _) = targets(&p, &policies);
    let legacy: Vec<Known> = written(&decide(&p.alerts, &t, &[], WEBHOOK).creates)
        .into_iter()
        .map(|k| Known { group: None, ..k })
        .collect();
    assert_eq!(decide(&p.alerts, &t, &legacy, WEBHOOK).repeats, 1);
    let other = forged(legacy, Some("mallory@example.com"));
    assert_eq!(decide(&p.alerts, &t, &other, WEBHOOK).creates.len(), 1);
}
