//! `IdentityCenter` over the SDK: each call acts as its actor's session (assumed on first
//! use) and is made by `store` (Identity Store), `sso` (SSO Admin assignments) or `guard`
//! (SSO Admin permission-set policies and provisioning).

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use futures::{FutureExt, future::BoxFuture};

use super::{Aws, guard, session_key, sso, store};
use crate::{ActAs, Actor, Api, Assignment, Call, IdentityCenter, Progress};

impl IdentityCenter for Aws {
    fn session<'a>(&'a self, actor: Actor<'a>) -> Call<'a, ()> {
        async move {
            self.credentials(&session_key(actor.target, actor.role))
                .await
                .map(drop)
        }
        .boxed()
    }

    fn forget<'a>(&'a self, target: &'a ActAs) -> BoxFuture<'a, ()> {
        self.sessions
            .forget(|k| k.session_name == target.session_name && k.role_arn == target.role_arn);
        futures::future::ready(()).boxed()
    }

    fn user_id<'a>(&'a self, actor: Actor<'a>, user_name: &'a str) -> Call<'a, String> {
        async move {
            store::user_id(
                &self.store(actor).await?,
                &self.paced(Api::IdentityStore, actor),
                actor,
                user_name,
            )
            .await
        }
        .boxed()
    }

    fn group_id<'a>(&'a self, actor: Actor<'a>, display_name: &'a str) -> Call<'a, String> {
        async move {
            store::group_id(
                &self.store(actor).await?,
                &self.paced(Api::IdentityStore, actor),
                actor,
                display_name,
            )
            .await
        }
        .boxed()
    }

    fn membership_id<'a>(
        &'a self,
        actor: Actor<'a>,
        group_id: &'a str,
        user_id: &'a str,
    ) -> Call<'a, Option<String>> {
        async move {
            let client = self.store(actor).await?;
            store::membership_id(
                &client,
                &self.paced(Api::IdentityStore, actor),
                actor,
                group_id,
                user_id,
            )
            .await
        }
        .boxed()
    }

    fn create_membership<'a>(
        &'a self,
        actor: Actor<'a>,
        group_id: &'a str,
        user_id: &'a str,
    ) -> Call<'a, String> {
        async move {
            let client = self.store(actor).await?;
            store::create_membership(
                &client,
                &self.paced(Api::IdentityStore, actor),
                actor,
                group_id,
                user_id,
            )
            .await
        }
        .boxed()
    }

    fn delete_membership<'a>(&'a self, actor: Actor<'a>, membership_id: &'a str) -> Call<'a, bool> {
        async move {
            let client = self.store(actor).await?;
            store::delete_membership(
                &client,
                &self.paced(Api::IdentityStore, actor),
                actor,
                membership_id,
            )
            .await
        }
        .boxed()
    }

    fn members<'a>(
        &'a self,
        actor: Actor<'a>,
        group_id: &'a str,
    ) -> Call<'a, BTreeMap<String, String>> {
        async move {
            store::members(
                &self.store(actor).await?,
                &self.paced(Api::IdentityStore, actor),
                actor,
                group_id,
            )
            .await
        }
        .boxed()
    }

    fn instances<'a>(&'a self, actor: Actor<'a>) -> Call<'a, Vec<(String, String)>> {
        async move {
            sso::instances(
                &self.sso(actor).await?,
                &self.paced(Api::SsoAdmin, actor),
                actor,
            )
            .await
        }
        .boxed()
    }

    fn permission_set_arn<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        name: &'a str,
    ) -> Call<'a, String> {
        async move {
            let client = self.sso(actor).await?;
            sso::permission_set_arn(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                instance_arn,
                name,
            )
            .await
        }
        .boxed()
    }

    fn create_assignment<'a>(
        &'a self,
        actor: Actor<'a>,
        assignment: &'a Assignment,
        user_id: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let client = self.sso(actor).await?;
            sso::create(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                assignment,
                user_id,
            )
            .await
        }
        .boxed()
    }

    fn delete_assignment<'a>(
        &'a self,
        actor: Actor<'a>,
        assignment: &'a Assignment,
        user_id: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let client = self.sso(actor).await?;
            sso::delete(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                assignment,
                user_id,
            )
            .await
        }
        .boxed()
    }

    fn creation_status<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let client = self.sso(actor).await?;
            sso::creation(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                instance_arn,
                request_id,
            )
            .await
        }
        .boxed()
    }

    fn deletion_status<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let client = self.sso(actor).await?;
            sso::deletion(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                instance_arn,
                request_id,
            )
            .await
        }
        .boxed()
    }

    fn assigned_users<'a>(
        &'a self,
        actor: Actor<'a>,
        assignment: &'a Assignment,
    ) -> Call<'a, BTreeSet<String>> {
        async move {
            sso::users(
                &self.sso(actor).await?,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                assignment,
            )
            .await
        }
        .boxed()
    }

    fn session_duration<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, Duration> {
        async move {
            let client = self.sso(actor).await?;
            guard::session_duration(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                instance_arn,
                permission_set_arn,
            )
            .await
        }
        .boxed()
    }

    fn inline_policy<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, String> {
        async move {
            let client = self.sso(actor).await?;
            guard::inline_policy(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                instance_arn,
                permission_set_arn,
            )
            .await
        }
        .boxed()
    }

    fn put_inline_policy<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
        document: &'a str,
    ) -> Call<'a, ()> {
        async move {
            let client = self.sso(actor).await?;
            let (i, p) = (instance_arn, permission_set_arn);
            guard::put_inline_policy(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                i,
                p,
                document,
            )
            .await
        }
        .boxed()
    }

    fn delete_inline_policy<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, ()> {
        async move {
            let client = self.sso(actor).await?;
            let (i, p) = (instance_arn, permission_set_arn);
            guard::delete_inline_policy(&client, &self.paced(Api::SsoAdmin, actor), actor, i, p)
                .await
        }
        .boxed()
    }

    fn provision<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let client = self.sso(actor).await?;
            guard::provision(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                instance_arn,
                permission_set_arn,
            )
            .await
        }
        .boxed()
    }

    fn provisioning_status<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> Call<'a, Progress> {
        async move {
            let client = self.sso(actor).await?;
            guard::provisioning_status(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                instance_arn,
                request_id,
            )
            .await
        }
        .boxed()
    }

    fn group_permission_sets<'a>(
        &'a self,
        actor: Actor<'a>,
        instance_arn: &'a str,
        group_id: &'a str,
    ) -> Call<'a, BTreeSet<String>> {
        async move {
            let client = self.sso(actor).await?;
            guard::group_permission_sets(
                &client,
                &self.paced(Api::SsoAdmin, actor),
                actor,
                instance_arn,
                group_id,
            )
            .await
        }
        .boxed()
    }
}
