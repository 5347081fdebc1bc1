//! The session guard's SSO Admin calls: a permission set's session duration and inline
//! policy, provisioning it to its accounts (asynchronous, like an assignment change), and
//! the permission sets a group is assigned. Every call waits its turn at the shared rate
//! limit.

use std::{collections::BTreeSet, time::Duration};

use aws_sdk_ssoadmin::{
    Client,
    error::ProvideErrorMetadata,
    types::{PrincipalType, ProvisionTargetType},
};

use super::{
    Paced,
    sso::{failed, progress_of},
};
use crate::{Actor, DEFAULT_SESSION_DURATION, Error, Progress};

/// DescribePermissionSet's SessionDuration.
pub(super) async fn session_duration(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
) -> Result<Duration, Error> {
    let _turn = limit.wait().await;
    let out = client
        .describe_permission_set()
        .instance_arn(instance_arn)
        .permission_set_arn(permission_set_arn)
        .send()
        .await
        .map_err(|e| failed("DescribePermissionSet", actor, e))?;
    match out.permission_set().and_then(|p| p.session_duration()) {
        None | Some("") => Ok(DEFAULT_SESSION_DURATION),
        Some(text) => iso8601_duration(text).ok_or_else(|| Error::SessionDuration {
            permission_set_arn: permission_set_arn.to_owned(),
            value: text.to_owned(),
        }),
    }
}

/// The inline policy document: empty when there is none.
pub(super) async fn inline_policy(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
) -> Result<String, Error> {
    let _turn = limit.wait().await;
    let out = client
        .get_inline_policy_for_permission_set()
        .instance_arn(instance_arn)
        .permission_set_arn(permission_set_arn)
        .send()
        .await
        .map_err(|e| failed("GetInlinePolicyForPermissionSet", actor, e))?;
    Ok(out.inline_policy.unwrap_or_default())
}

pub(super) async fn put_inline_policy(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
    document: &str,
) -> Result<(), Error> {
    let _turn = limit.wait().await;
    client
        .put_inline_policy_to_permission_set()
        .instance_arn(instance_arn)
        .permission_set_arn(permission_set_arn)
        .inline_policy(document)
        .send()
        .await
        .map(drop)
        .map_err(|e| failed("PutInlinePolicyToPermissionSet", actor, e))
}

/// Deletes the inline policy; AWS's ResourceNotFoundException means it is already gone.
pub(super) async fn delete_inline_policy(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
) -> Result<(), Error> {
    let _turn = limit.wait().await;
    match client
        .delete_inline_policy_from_permission_set()
        .instance_arn(instance_arn)
        .permission_set_arn(permission_set_arn)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ResourceNotFoundException") =>
        {
            Ok(())
        }
        Err(e) => Err(failed("DeleteInlinePolicyFromPermissionSet", actor, e)),
    }
}

/// Provisions the permission set to every account it is provisioned to.
pub(super) async fn provision(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    permission_set_arn: &str,
) -> Result<Progress, Error> {
    let operation = "ProvisionPermissionSet";
    let _turn = limit.wait().await;
    let out = client
        .provision_permission_set()
        .instance_arn(instance_arn)
        .permission_set_arn(permission_set_arn)
        .target_type(ProvisionTargetType::AllProvisionedAccounts)
        .send()
        .await
        .map_err(|e| failed(operation, actor, e))?;
    let status = out
        .permission_set_provisioning_status()
        .ok_or(Error::NoStatus { operation })?;
    Ok(progress_of(
        status.status(),
        status.request_id(),
        status.failure_reason(),
    ))
}

/// Where the provisioning with `request_id` stands.
pub(super) async fn provisioning_status(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    request_id: &str,
) -> Result<Progress, Error> {
    let operation = "DescribePermissionSetProvisioningStatus";
    let _turn = limit.wait().await;
    let out = client
        .describe_permission_set_provisioning_status()
        .instance_arn(instance_arn)
        .provision_permission_set_request_id(request_id)
        .send()
        .await
        .map_err(|e| failed(operation, actor, e))?;
    let status = out
        .permission_set_provisioning_status()
        .ok_or(Error::NoStatus { operation })?;
    Ok(progress_of(
        status.status(),
        status.request_id(),
        status.failure_reason(),
    ))
}

/// The distinct permission sets the GROUP principal is assigned, on any account.
pub(super) async fn group_permission_sets(
    client: &Client,
    limit: &Paced<'_>,
    actor: Actor<'_>,
    instance_arn: &str,
    group_id: &str,
) -> Result<BTreeSet<String>, Error> {
    let mut out = BTreeSet::new();
    let mut next: Option<String> = None;
    loop {
        let _turn = limit.wait().await;
        let page = client
            .list_account_assignments_for_principal()
            .instance_arn(instance_arn)
            .principal_id(group_id)
            .principal_type(PrincipalType::Group)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| failed("ListAccountAssignmentsForPrincipal", actor, e))?;
        out.extend(
            page.account_assignments()
                .iter()
                .filter_map(|a| a.permission_set_arn().map(str::to_owned)),
        );
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

/// An ISO-8601 duration as AWS writes a SessionDuration (`PT1H`, `PT1H30M`, `PT90M`,
/// `P1D`): weeks and days, then after `T` hours, minutes and seconds (only seconds
/// fractional), each at most once and in that order. Years and months have no fixed
/// length and are refused, as are signs and empty durations.
pub(super) fn iso8601_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((_, "")) => return None,
        Some((date, time)) => (date, time),
        None => (rest, ""),
    };
    if date.is_empty() && time.is_empty() {
        return None;
    }
    let date = seconds(date, &[('W', 7 * 86_400), ('D', 86_400)])?;
    let time = seconds(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    Duration::try_from_secs_f64(date + time).ok()
}

/// The seconds in one part of a duration: `<number><unit>` components, the units in the
/// order of `units` (unit, seconds each).
fn seconds(mut part: &str, units: &[(char, u64)]) -> Option<f64> {
    let mut total = 0.0;
    let mut allowed = units;
    while !part.is_empty() {
        let end = part.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, rest) = part.split_at(end);
        let unit = rest.chars().next()?;
        let at = allowed.iter().position(|(u, _)| *u == unit)?;
        let whole = number.bytes().all(|b| b.is_ascii_digit());
        if number.is_empty() || !(whole || unit == 'S') {
            return None;
        }
        total += number.parse::<f64>().ok()? * allowed[at].1 as f64;
        allowed = &allowed[at + 1..];
        part = &rest[unit.len_utf8()..];
    }
    Some(total)
}
