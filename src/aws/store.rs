//! Identity Store operations on one store, as one assumed role. Every call waits its turn
//! at the shared rate limit. Changes are idempotent: a membership that already exists
//! counts as created, one already gone as deleted.

use std::{collections::BTreeMap, sync::Arc};

use aws_sdk_identitystore::{
    Client as IdentityStore,
    error::ProvideErrorMetadata,
    types::{AlternateIdentifier, MemberId, UniqueAttribute},
};
use aws_smithy_types::Document;

use super::{Error, Limiter, call_failed};

fn unique(path: &str, value: &str) -> Result<AlternateIdentifier, String> {
    UniqueAttribute::builder()
        .attribute_path(path)
        .attribute_value(Document::String(value.to_owned()))
        .build()
        .map(AlternateIdentifier::UniqueAttribute)
        .map_err(|e| e.to_string())
}

/// The AWS error code of a failed call (`ResourceNotFoundException`, `ConflictException`, …).
fn code<E: ProvideErrorMetadata>(err: &aws_sdk_identitystore::error::SdkError<E>) -> Option<&str> {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}

fn is_not_found<E: ProvideErrorMetadata>(err: &aws_sdk_identitystore::error::SdkError<E>) -> bool {
    code(err) == Some("ResourceNotFoundException")
}

/// Identity Store operations on one store, as one assumed role.
pub struct Store {
    pub(super) client: IdentityStore,
    pub(super) identity_store_id: String,
    pub(super) limit: Arc<Limiter>,
}

impl Store {
    pub async fn user_id(&self, user_name: &str) -> Result<String, Error> {
        let id = self.identity_store_id.as_str();
        let ident = unique("userName", user_name).map_err(|m| Error::Call {
            operation: "GetUserId",
            identity_store_id: id.to_owned(),
            message: m,
        })?;
        let _turn = self.limit.wait().await;
        match self
            .client
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
            Err(e) => Err(call_failed("GetUserId", id, e)),
        }
    }

    pub async fn group_id(&self, display_name: &str) -> Result<String, Error> {
        let id = self.identity_store_id.as_str();
        let ident = unique("displayName", display_name).map_err(|m| Error::Call {
            operation: "GetGroupId",
            identity_store_id: id.to_owned(),
            message: m,
        })?;
        let _turn = self.limit.wait().await;
        match self
            .client
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
            Err(e) => Err(call_failed("GetGroupId", id, e)),
        }
    }

    pub async fn membership_id(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, Error> {
        let id = self.identity_store_id.as_str();
        let _turn = self.limit.wait().await;
        match self
            .client
            .get_group_membership_id()
            .identity_store_id(id)
            .group_id(group_id)
            .member_id(MemberId::UserId(user_id.to_owned()))
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.membership_id)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(call_failed("GetGroupMembershipId", id, e)),
        }
    }

    /// Creates the membership; an existing one counts as done. `look_first`: an earlier
    /// attempt may have created it already, so find it before creating (emulators that
    /// accept a duplicate membership would otherwise make a second one; AWS answers
    /// ConflictException, handled below).
    pub async fn ensure_membership(
        &self,
        group_id: &str,
        user_id: &str,
        look_first: bool,
    ) -> Result<String, Error> {
        if look_first && let Some(existing) = self.membership_id(group_id, user_id).await? {
            return Ok(existing);
        }
        let id = self.identity_store_id.as_str();
        let _turn = self.limit.wait().await;
        match self
            .client
            .create_group_membership()
            .identity_store_id(id)
            .group_id(group_id)
            .member_id(MemberId::UserId(user_id.to_owned()))
            .send()
            .await
        {
            Ok(out) => Ok(out.membership_id),
            // Someone else created it meanwhile (AWS answers ConflictException).
            Err(e) if code(&e) == Some("ConflictException") => self
                .membership_id(group_id, user_id)
                .await?
                .ok_or_else(|| call_failed("CreateGroupMembership", id, e)),
            Err(e) => Err(call_failed("CreateGroupMembership", id, e)),
        }
    }

    /// Removes the user from the group. `recorded`: the membership id the grant recorded,
    /// deleted without a look-up first (a user is a member of a group at most once, so a
    /// successful delete means the user is out). When it is already gone, the user may have
    /// been re-added by hand under a new id: that one is found and deleted too. The sweep
    /// lists the group afterwards and takes back anything left.
    pub async fn remove_membership(
        &self,
        group_id: &str,
        user_id: &str,
        recorded: Option<&str>,
    ) -> Result<(), Error> {
        if let Some(id) = recorded
            && self.delete_membership(id).await?
        {
            return Ok(());
        }
        let Some(current) = self.membership_id(group_id, user_id).await? else {
            return Ok(());
        };
        self.delete_membership(&current).await?;
        match self.membership_id(group_id, user_id).await? {
            None => Ok(()),
            Some(_) => Err(Error::NotRemoved {
                user_id: user_id.to_owned(),
                group_id: group_id.to_owned(),
            }),
        }
    }

    /// Every member of the group: user id → membership id (all pages).
    pub async fn members(&self, group_id: &str) -> Result<BTreeMap<String, String>, Error> {
        let id = self.identity_store_id.as_str();
        let mut out = BTreeMap::new();
        let mut next: Option<String> = None;
        loop {
            let _turn = self.limit.wait().await;
            let page = self
                .client
                .list_group_memberships()
                .identity_store_id(id)
                .group_id(group_id)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| call_failed("ListGroupMemberships", id, e))?;
            for m in page.group_memberships {
                if let (Some(MemberId::UserId(user)), Some(membership)) =
                    (m.member_id, m.membership_id)
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

    /// Deletes one membership: `true` when it existed, `false` when it was already gone.
    pub async fn delete_membership(&self, membership_id: &str) -> Result<bool, Error> {
        let id = self.identity_store_id.as_str();
        let _turn = self.limit.wait().await;
        match self
            .client
            .delete_group_membership()
            .identity_store_id(id)
            .membership_id(membership_id)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(call_failed("DeleteGroupMembership", id, e)),
        }
    }

    /// Whether the user is a member of any of the named groups (for eligibility).
    pub async fn member_of_any(
        &self,
        user_id: &str,
        group_names: &[String],
    ) -> Result<bool, Error> {
        for name in group_names {
            let group_id = match self.group_id(name).await {
                Ok(g) => g,
                Err(Error::GroupNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if self.membership_id(&group_id, user_id).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
