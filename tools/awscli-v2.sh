#!/bin/sh
# Print the path of an AWS CLI v2 (for `aws logs tail`, which v1 lacks), installing one if there is none.
# Looked for: AWS_CLI_V2 if set, else `aws` on PATH, else Debian's /usr/bin/aws. The v2 is not on PyPI; when none
# is found, Debian's `awscli` package (bookworm: 2.9.19, a v2) is installed with apt. It runs on the system python3
# with its own bundled botocore, outside the project's venvs. Idempotent: a v2 already there is only printed.
# Messages go to stderr; stdout carries the path alone.
set -eu

is_v2() {
    [ -n "$1" ] && "$1" --version 2>/dev/null | grep -q '^aws-cli/2\.'
}

if [ -n "${AWS_CLI_V2:-}" ]; then
    if is_v2 "$AWS_CLI_V2"; then
        echo "$AWS_CLI_V2"
        exit 0
    fi
    echo "AWS_CLI_V2=$AWS_CLI_V2 is not the AWS CLI v2 (its --version does not start with aws-cli/2.)" >&2
    exit 1
fi
for candidate in "$(command -v aws || true)" /usr/bin/aws; do
    if is_v2 "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done

how="install the AWS CLI v2 (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html), then
run again with AWS_CLI_V2=<its path>"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no AWS CLI v2 found and no apt-get to install Debian's awscli package: $how" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "no AWS CLI v2 found; installing Debian's awscli package needs root: run" \
        "\`sudo apt-get update && sudo apt-get install -y awscli\`, or $how" >&2
    exit 1
fi
echo "no AWS CLI v2 found: installing Debian's awscli package with apt-get" >&2
apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q awscli >&2
if is_v2 /usr/bin/aws; then
    echo /usr/bin/aws
    exit 0
fi
echo "apt-get installed awscli, but /usr/bin/aws is not a v2 ($(/usr/bin/aws --version 2>&1 || true)): this" \
    "distribution packages the v1; $how" >&2
exit 1
