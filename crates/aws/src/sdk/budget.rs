//! Each call's budget (`Paced`: which account and API it spends) and what AWS answered it
//! fed back to that budget (`Feedback`, an interceptor on the call's client, so the SDK's
//! own retries of a throttled attempt count too).

use std::sync::Arc;

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{Intercept, context::FinalizerInterceptorContextRef},
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;

use super::calls::code_of;
use crate::{Api, Budgets, Turn, error::is_throttling_code};

/// One budget, as a call's function sees it: `wait` for the call's turn.
pub(super) struct Paced<'a> {
    pub(super) budgets: &'a Budgets,
    pub(super) api: Api,
    pub(super) account: String,
}

impl Paced<'_> {
    pub(super) async fn wait(&self) -> Turn<'_> {
        self.budgets.wait(self.api, &self.account).await
    }
}

/// Tells the budget of every attempt AWS answered: throttled (HTTP 429 or a throttling
/// code) or not. An attempt without an answer (timeout, connection) says nothing of it.
pub(super) struct Feedback {
    pub(super) budgets: Arc<Budgets>,
    pub(super) api: Api,
    pub(super) account: String,
}

impl std::fmt::Debug for Feedback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Feedback({:?}, {})", self.api, self.account)
    }
}

impl Intercept for Feedback {
    fn name(&self) -> &'static str {
        "breakglass-budget-feedback"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(status) = context.response().map(|r| r.status().as_u16()) else {
            return Ok(());
        };
        let code = match context.output_or_error() {
            Some(Err(e)) => e.as_operation_error().and_then(code_of),
            _ => None,
        };
        let throttled = status == 429 || code.is_some_and(is_throttling_code);
        self.budgets.answered(self.api, &self.account, throttled);
        Ok(())
    }
}
