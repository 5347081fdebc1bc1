//! The bench's world: its own namespace and AWS account, users spread over policies (a
//! policy lists at most 256 eligible users), one group per policy, and an alert policy.

use futures::{StreamExt, stream};
use kube::{Client, api::PostParams};
use serde_json::{Value, json};

use crate::common::{
    self, AwsFixture, grants_raw, object,
    objects::{APPLICATION, application, create},
    policies_raw, unique_name,
};

/// Most names one policy's `eligibleUsers` may hold.
const PER_POLICY: usize = 256;

pub struct World {
    pub client: Client,
    pub ns: String,
    pub aws: AwsFixture,
    /// Every policy the bench made (deleted at the end).
    pub policies: Vec<String>,
    /// Identity Store group id of each policy's group.
    pub groups: Vec<String>,
    /// The alert policy's rule matches `alertname` exactly, so no other policy's rule does.
    pub alertname: String,
    pub alert_users: Vec<String>,
    /// For each ordinary user: the policy to grant under.
    assignment: Vec<(String, String)>,
    /// The bench's own Kubernetes username, for `spec.requestedBy`.
    pub me: String,
}

pub fn user(kind: &str, i: usize) -> String {
    format!("{kind}{i}@bench.example.com")
}

impl World {
    /// `users`: how many ordinary users; `alert_users`: how many for alert-opened grants.
    pub async fn seed(users: usize, alert_users: usize) -> Self {
        let client = common::client().await;
        common::install_crds(&client).await;
        let ns = common::namespace(&client, "bench").await;
        let aws = AwsFixture::new().await;
        let ordinary: Vec<String> = (0..users).map(|i| user("u", i)).collect();
        let alerting: Vec<String> = (0..alert_users).map(|i| user("a", i)).collect();
        let all: Vec<&String> = ordinary.iter().chain(&alerting).collect();
        stream::iter(all)
            .for_each_concurrent(16, |u| {
                let aws = &aws;
                async move {
                    aws.create_user(u).await;
                }
            })
            .await;

        let alertname = format!("BreakGlassBench-{ns}");
        let me = breakglass::requester::whoami(&client)
            .await
            .expect("SelfSubjectReview");
        let mut world = Self {
            me,
            client,
            ns,
            aws,
            policies: vec![],
            groups: vec![],
            alertname,
            alert_users: alerting.clone(),
            assignment: vec![],
        };
        for (j, chunk) in ordinary.chunks(PER_POLICY).enumerate() {
            let name = world.policy(&format!("p{j}"), chunk, None).await;
            world
                .assignment
                .extend(chunk.iter().map(|u| (u.clone(), name.clone())));
        }
        // A second rule for the storm: its alerts group per (rule, user), apart from the
        // grants the single alerts opened under the first.
        let rule = json!([{
            "matchers": [format!("alertname=\"{}\"", world.alertname)],
            "userLabel": "breakglass_user",
            "namespace": world.ns,
            "duration": "1h",
        }, {
            "matchers": [format!("alertname=\"{}\"", world.storm_alertname())],
            "userLabel": "breakglass_user",
            "namespace": world.ns,
            "duration": "1h",
        }]);
        world.policy("alerts", &alerting, Some(rule)).await;
        world
    }

    /// The storm's alerts: matched by the alert policy's second rule.
    pub fn storm_alertname(&self) -> String {
        format!("{}-storm", self.alertname)
    }

    /// A policy with its own group; its name.
    async fn policy(&mut self, suffix: &str, users: &[String], alerts: Option<Value>) -> String {
        let name = unique_name(&format!("bench-{suffix}"), &self.ns);
        let group = format!("bench-{suffix}");
        self.groups.push(self.aws.create_group(&group).await);
        let mut spec = json!({
            "eligibleUsers": users,
            "grantNamespaces": [self.ns],
            "duration": {"default": "1h", "max": "8h"},
            "aws": {
                "region": "us-east-1",
                "identityStoreId": self.aws.identity_store_id,
                "roleArn": self.aws.role_arn,
            },
            "access": {"groupMembership": {"groupName": group}},
        });
        match alerts {
            Some(rules) => spec["alerts"] = rules,
            // Each ordinary policy pauses its own auto-syncing Argo CD Application, as a
            // team's policy would: the steady window then shows what pausing grants cost
            // the API server while nothing changes.
            None => {
                let app = format!("app-{suffix}");
                create(
                    &self.client,
                    &self.ns,
                    APPLICATION,
                    &app,
                    application(Some(json!({"prune": true}))),
                )
                .await;
                spec["pause"] = json!([{"argoCD": {"namespace": self.ns, "names": [app]}}]);
            }
        }
        policies_raw(&self.client)
            .create(
                &PostParams::default(),
                &object("BreakGlassPolicy", &name, None, spec),
            )
            .await
            .unwrap_or_else(|e| panic!("creating policy {name}: {e}"));
        self.policies.push(name.clone());
        name
    }

    /// How many users the bench made.
    pub fn users(&self) -> usize {
        self.assignment.len() + self.alert_users.len()
    }

    /// The i-th ordinary user and its policy.
    pub fn assigned(&self, i: usize) -> &(String, String) {
        &self.assignment[i]
    }

    /// Creates a grant for ordinary user `i`; `duration` overrides the policy default.
    pub async fn create_grant(
        &self,
        name: &str,
        i: usize,
        duration: Option<&str>,
    ) -> Result<(), kube::Error> {
        let (user, policy) = self.assigned(i);
        let mut spec = json!({
            "policy": policy,
            "user": user,
            "requestedBy": self.me,
            "reason": "bench",
            "incident": {"id": format!("BENCH-{name}")},
        });
        if let Some(d) = duration {
            spec["duration"] = json!(d);
        }
        grants_raw(&self.client, &self.ns)
            .create(
                &PostParams::default(),
                &object("BreakGlassGrant", name, Some(&self.ns), spec),
            )
            .await
            .map(|_| ())
    }

    /// Memberships left in the bench's groups, every page read (0 once all grants ended).
    pub async fn members_left(&self) -> Result<usize, String> {
        let mut n = 0;
        for g in &self.groups {
            let mut pages = self
                .aws
                .store
                .list_group_memberships()
                .identity_store_id(&self.aws.identity_store_id)
                .group_id(g)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                n += page
                    .map_err(|e| format!("listing members of {g}: {e}"))?
                    .group_memberships
                    .len();
            }
        }
        Ok(n)
    }

    /// Removes the bench's policies (grants are deleted by the caller, while the controller
    /// still runs to take their finalizers off).
    pub async fn remove_policies(&self) {
        let api = policies_raw(&self.client);
        for p in &self.policies {
            let _ = api.delete(p, &Default::default()).await;
        }
    }
}
