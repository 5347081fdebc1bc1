use super::*;
use crate::targets::{AccountTarget, GroupTarget};

fn installation(id: &str) -> Installation {
    Installation::new(id).expect("installation id")
}

fn group_entry() -> Entry {
    Entry::new(
        Target::Group(GroupTarget {
            identity_store_id: "d-1".into(),
            group_id: "g-1".into(),
        }),
        "u-1",
        "alice@example.com",
        &crate::api::GrantKey::new("incidents", "inc-1"),
        "prod-admin",
    )
}

fn read_back(mut obj: BreakGlassLedgerEntry, at: &Installation) -> Option<Entry> {
    obj.metadata.resource_version = Some("7".into());
    Entry::from_object(&obj, at)
}

#[test]
fn entries_round_trip_carry_no_credentials_and_names_are_computed() {
    let inst = installation("inst1");
    let now: Timestamp = "2026-12-03T10:00:00Z".parse().expect("time");
    for entry in [
        group_entry(),
        Entry {
            target: Target::Account(AccountTarget {
                instance_arn: "arn:aws:sso:::instance/ssoins-0000000000000001".into(),
                account_id: "222222222222".into(),
                permission_set_arn:
                    "arn:aws:sso:::permissionSet/ssoins-0000000000000001/ps-0000000000000001".into(),
            }),
            ..group_entry()
        },
    ] {
        let obj = entry.to_object(&inst, now);
        let json = serde_json::to_string(&obj).expect("json");
        assert!(
            !json.contains("roleArn") && !json.contains("externalId"),
            "{json}"
        );
        assert_eq!(
            obj.labels().get(INSTALLATION_LABEL).map(String::as_str),
            Some("inst1")
        );
        let back = read_back(obj, &inst).expect("its own entry");
        assert_eq!(
            back,
            Entry {
                version: Some("7".into()),
                recorded_at: Some(now),
                ..entry
            }
        );
    }
}

/// Anyone able to write the kind (a cluster admin by mistake, a restored backup) could
/// leave entries the operator did not compute: they are never acted on.
#[test]
fn an_entry_under_another_name_or_of_another_installation_is_not_read() {
    let (mine, other) = (installation("inst1"), installation("inst2"));
    let now = Timestamp::now();
    let obj = group_entry().to_object(&mine, now);
    assert!(
        read_back(obj.clone(), &other).is_none(),
        "another installation's"
    );

    let mut renamed = obj.clone();
    renamed.metadata.name = Some("breakglass-member-0000000000000001".into());
    assert!(read_back(renamed, &mine).is_none(), "a name not computed");

    let mut retargeted = obj.clone();
    retargeted
        .spec
        .0
        .target
        .group
        .as_mut()
        .expect("group")
        .group_id = "g-2".into();
    assert!(
        read_back(retargeted, &mine).is_none(),
        "content changed under the name"
    );

    let mut relabelled = group_entry().to_object(&other, now);
    relabelled.spec.0.installation = "inst1".into();
    assert!(read_back(relabelled, &mine).is_none(), "claims to be ours");
}

/// The sweep's race: a member recorded just before a list may still be on its way to
/// AWS; the list proves nothing about it until one call deadline has passed.
#[test]
fn an_entry_recorded_within_a_call_deadline_of_the_list_is_in_flight() {
    let at = |s: &str| -> Timestamp { s.parse().expect("time") };
    let deadline = std::time::Duration::from_secs(33);
    let mut entry = group_entry();
    let listed = at("2026-12-02T10:00:00Z");
    assert!(
        !entry.in_flight(listed, deadline),
        "no record time: an old entry"
    );
    entry.recorded_at = Some(at("2026-12-02T09:59:50Z"));
    assert!(
        entry.in_flight(listed, deadline),
        "its add may land after the list"
    );
    entry.recorded_at = Some(at("2026-12-02T09:59:00Z"));
    assert!(
        !entry.in_flight(listed, deadline),
        "landed or failed before the list"
    );
    entry.recorded_at = Some(at("2026-12-02T10:00:05Z"));
    assert!(
        entry.in_flight(listed, deadline),
        "recorded after the list began"
    );
}
