"""Shows and seeds the AWS side of the demo in moto (boto3 from moto's venv).

usage: aws_side.py seed|members ROLE_ARN IDENTITY_STORE_ID GROUP USER...
       aws_side.py assignments ROLE_ARN IDENTITY_STORE_ID PERMISSION_SET ACCOUNT...
Credentials from AssumeRole act in the role's account, as the operator's do. `seed` also
creates the example's permission set (BreakGlassReadOnly) in the account's instance.
"""
import os
import sys

import boto3


PERMISSION_SET = "BreakGlassReadOnly"


def store(role_arn, service="identitystore"):
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    creds = boto3.client("sts", endpoint_url=endpoint, region_name=os.environ["AWS_REGION"]).assume_role(
        RoleArn=role_arn, RoleSessionName="breakglass-demo"
    )["Credentials"]
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=os.environ["AWS_REGION"],
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def group_id(client, store_id, name):
    groups = client.list_groups(IdentityStoreId=store_id)["Groups"]
    return next((g["GroupId"] for g in groups if g.get("DisplayName") == name), None)


def permission_set(sso, instance, name):
    for arn in sso.list_permission_sets(InstanceArn=instance)["PermissionSets"]:
        if sso.describe_permission_set(InstanceArn=instance, PermissionSetArn=arn)["PermissionSet"]["Name"] == name:
            return arn
    return None


def assignments(role_arn, name, *accounts):
    sso = store(role_arn, "sso-admin")
    instance = sso.list_instances()["Instances"][0]["InstanceArn"]
    arn = permission_set(sso, instance, name)
    names = {u["UserId"]: u["UserName"] for u in store(role_arn).list_users(IdentityStoreId=STORE)["Users"]}
    for account in accounts:
        listed = sso.list_account_assignments(InstanceArn=instance, AccountId=account, PermissionSetArn=arn)
        users = [names.get(a["PrincipalId"], a["PrincipalId"]) for a in listed["AccountAssignments"]
                 if a["PrincipalType"] == "USER"]
        print(f"AWS: {name!r} on account {account}: {', '.join(users) if users else '(nobody)'}")


STORE = None


def main(cmd, role_arn, store_id, group, *users):
    global STORE
    STORE = store_id
    if cmd == "assignments":
        return assignments(role_arn, group, *users)
    client = store(role_arn)
    if cmd == "seed":
        if group_id(client, store_id, group) is None:
            client.create_group(IdentityStoreId=store_id, DisplayName=group)
        existing = {u["UserName"] for u in client.list_users(IdentityStoreId=store_id)["Users"]}
        for user in users:
            if user not in existing:
                client.create_user(
                    IdentityStoreId=store_id, UserName=user, DisplayName=user,
                    Name={"GivenName": user.split("@")[0], "FamilyName": "Demo"},
                )
        sso = store(role_arn, "sso-admin")
        instance = sso.list_instances()["Instances"][0]["InstanceArn"]
        if permission_set(sso, instance, PERMISSION_SET) is None:
            sso.create_permission_set(InstanceArn=instance, Name=PERMISSION_SET, SessionDuration="PT1H")
        print(f"Identity Store {store_id}: group {group!r}, users {', '.join(users)}; "
              f"permission set {PERMISSION_SET!r} in {instance}")
    elif cmd == "members":
        gid = group_id(client, store_id, group)
        names = {u["UserId"]: u["UserName"] for u in client.list_users(IdentityStoreId=store_id)["Users"]}
        members = client.list_group_memberships(IdentityStoreId=store_id, GroupId=gid)["GroupMemberships"]
        shown = [names.get(m["MemberId"]["UserId"], m["MemberId"]["UserId"]) for m in members]
        print(f"AWS: members of {group!r}: {', '.join(shown) if shown else '(none)'}")
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(*sys.argv[1:])
