//! Every AWS call counted, by the action a role needs (`service:operation`) and its outcome,
//! and throttling answers counted apart: one SDK interceptor shared by every client.

use std::sync::Arc;

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{Intercept, context::FinalizerInterceptorContextRef},
        orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;

use crate::telemetry::Metrics;

/// Records each call's outcome from its HTTP status, or `timeout` when it got no answer
/// within its deadline: the SDK's operation errors are type-erased at this point, and the
/// status class is what an alert needs.
pub(super) struct CallMetrics(pub(super) Arc<Metrics>);

impl std::fmt::Debug for CallMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallMetrics")
    }
}

impl Intercept for CallMetrics {
    fn name(&self) -> &'static str {
        "breakglass-call-metrics"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().is_some_and(is_throttling) {
            let (service, operation) = operation_of(cfg);
            self.0.aws_throttled(&iam_prefix(&service), &operation);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = operation_of(cfg);
        let status = context.response().map(|r| r.status().as_u16());
        let outcome = match (context.output_or_error(), status) {
            (Some(Ok(_)), _) => "ok",
            (Some(Err(e)), _)
                if e.is_timeout_error()
                    || e.as_connector_error().is_some_and(|c| c.is_timeout()) =>
            {
                "timeout"
            }
            (_, Some(429)) => "throttled",
            (_, Some(400..=499)) => "client_error",
            (_, Some(500..)) => "server_error",
            _ => "transport_error",
        };
        self.0.aws_call(&iam_prefix(&service), &operation, outcome);
        Ok(())
    }
}

/// The service as IAM policies name it (`sts`, `identitystore`, `sso`), so a metric's
/// `service:operation` is the action a role needs.
fn iam_prefix(sdk_service: &str) -> String {
    match sdk_service.to_lowercase().replace(' ', "").as_str() {
        "ssoadmin" => "sso".into(),
        other => other.to_owned(),
    }
}

fn operation_of(cfg: &ConfigBag) -> (String, String) {
    cfg.load::<Metadata>()
        .map(|m| (m.service().to_owned(), m.name().to_owned()))
        .unwrap_or_else(|| ("unknown".into(), "unknown".into()))
}

/// A throttling answer: HTTP 429, or an error code naming throttling (the JSON services send
/// it in `x-amzn-ErrorType`, STS in its XML body), as the SDK's retry classifier reads it.
fn is_throttling(response: &aws_smithy_runtime_api::http::Response) -> bool {
    if response.status().as_u16() == 429 {
        return true;
    }
    if response.status().is_success() {
        return false;
    }
    let named = |text: &str| text.contains("Throttling") || text.contains("TooManyRequests");
    response
        .headers()
        .get("x-amzn-ErrorType")
        .is_some_and(named)
        || response
            .body()
            .bytes()
            .is_some_and(|b| named(&String::from_utf8_lossy(b)))
}
