//! Identity Store calls on the actor's store, each waiting its turn at the shared rate
//! limit. A missing user, group or membership is an answer, not a failure.

use std::collections::BTreeMap;

use aws_sdk_identitystore::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::{AlternateIdentifier, MemberId, UniqueAttribute},
};
use aws_smithy_types::Document;

use super::{Paced, call_failed};
use crate::{Actor, Cause, Error};

fn unique(
    operation: &'static str,
    actor: Actor<'_>,
    path: &str,
    value: &str,
) -> Result<AlternateIdentifier, Error> {
    UniqueAttribute::builder()
        .attribute_path(path)
        .attribute_value(Document::String(value.to_owned()))
        .build()
        .map(AlternateIdentifier::UniqueAttribute)
        .map_err(|source| Error::Call {
            operation,
            identity_store_id: actor.target.identity_store_id.clone(),
            source: Cause::Build(source),
        })
}

fn is_not_found<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ResourceNotFoundException")
}

/// A failed call, its SDK error kept as an Identity Store error.
fn failed<E>(operation: &'static str, actor: Actor<'_>, err: SdkError<E>) -> Error
where
    aws_sdk_identitystore::Error: From<SdkError<E>>,
{
    call_failed::<_, _, aws_sdk_identitystore::Error>(
        operation,
        &actor.target.identity_store_id,
        err,
    )
}

pub(super) async fn user_id(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    user_name: &str,
) -> Result<String, Error> {
    let id = actor.target.identity_store_id.as_str();
    let ident = unique("GetUserId", actor, "userName", user_name)?;
    let _turn = limit.wait().await;
    match client
        .get_user_id()
        .identity_store_id(id)
        .alternate_identifier(ident)
        .send()
        .await
    {
        Ok(out) => Ok(out.user_id),
        Err(e) if is_not_found(&e) => Err(Error::UserNotFound {
            identity_store_id: id.to_owned(),
            user: user_name.to_owned(),
        }),
        Err(e) => Err(failed("GetUserId", actor, e)),
    }
}

pub(super) async fn group_id(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    display_name: &str,
) -> Result<String, Error> {
    let id = actor.target.identity_store_id.as_str();
    let ident = unique("GetGroupId", actor, "displayName", display_name)?;
    let _turn = limit.wait().await;
    match client
        .get_group_id()
        .identity_store_id(id)
        .alternate_identifier(ident)
        .send()
        .await
    {
        Ok(out) => Ok(out.group_id),
        Err(e) if is_not_found(&e) => Err(Error::GroupNotFound {
            identity_store_id: id.to_owned(),
            group: display_name.to_owned(),
        }),
        Err(e) => Err(failed("GetGroupId", actor, e)),
    }
}

pub(super) async fn membership_id(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    group_id: &str,
    user_id: &str,
) -> Result<Option<String>, Error> {
    let _turn = limit.wait().await;
    match client
        .get_group_membership_id()
        .identity_store_id(&actor.target.identity_store_id)
        .group_id(group_id)
        .member_id(MemberId::UserId(user_id.to_owned()))
        .send()
        .await
    {
        Ok(out) => Ok(Some(out.membership_id)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(failed("GetGroupMembershipId", actor, e)),
    }
}

pub(super) async fn create_membership(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    group_id: &str,
    user_id: &str,
) -> Result<String, Error> {
    let _turn = limit.wait().await;
    client
        .create_group_membership()
        .identity_store_id(&actor.target.identity_store_id)
        .group_id(group_id)
        .member_id(MemberId::UserId(user_id.to_owned()))
        .send()
        .await
        .map(|out| out.membership_id)
        .map_err(|e| failed("CreateGroupMembership", actor, e))
}

pub(super) async fn members(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    group_id: &str,
) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    let mut next: Option<String> = None;
    loop {
        let _turn = limit.wait().await;
        let page = client
            .list_group_memberships()
            .identity_store_id(&actor.target.identity_store_id)
            .group_id(group_id)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| failed("ListGroupMemberships", actor, e))?;
        for m in page.group_memberships {
            if let (Some(MemberId::UserId(user)), Some(membership)) = (m.member_id, m.membership_id)
            {
                out.insert(user, membership);
            }
        }
        match page.next_token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => return Ok(out),
        }
    }
}

pub(super) async fn delete_membership(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    membership_id: &str,
) -> Result<bool, Error> {
    let _turn = limit.wait().await;
    match client
        .delete_group_membership()
        .identity_store_id(&actor.target.identity_store_id)
        .membership_id(membership_id)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(failed("DeleteGroupMembership", actor, e)),
    }
}
