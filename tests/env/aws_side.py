"""Shows and seeds the AWS side of the demo in moto (boto3 from moto's venv).

usage: aws_side.py seed|members ROLE_ARN IDENTITY_STORE_ID GROUP USER...
Credentials from AssumeRole act in the role's account, as the operator's do.
"""
import os
import sys

import boto3


def store(role_arn):
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    creds = boto3.client("sts", endpoint_url=endpoint, region_name=os.environ["AWS_REGION"]).assume_role(
        RoleArn=role_arn, RoleSessionName="breakglass-demo"
    )["Credentials"]
    return boto3.client(
        "identitystore",
        endpoint_url=endpoint,
        region_name=os.environ["AWS_REGION"],
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def group_id(client, store_id, name):
    groups = client.list_groups(IdentityStoreId=store_id)["Groups"]
    return next((g["GroupId"] for g in groups if g.get("DisplayName") == name), None)


def main(cmd, role_arn, store_id, group, *users):
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
        print(f"Identity Store {store_id}: group {group!r}, users {', '.join(users)}")
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
