//! The Kubernetes client the operator shares: kube's default stack plus a deadline on every
//! request that is not a watch, answer and body included. kube sets no read timeout by
//! default (a watch may stay quiet for minutes; kube's watcher guards those with its own idle
//! timeout), so without this a request the API server never answers would hold its grant's
//! reconcile, the sweep or the Lease renewal for good.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use kube::{Client, Config, client::ClientBuilder};
use tokio::time::{Instant, Sleep};
use tower::{BoxError, Layer, Service};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the Kubernetes configuration (KUBECONFIG or in-cluster): {0}")]
    Config(#[source] kube::config::InferConfigError),
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// A request past its deadline: kube reports it as a service error naming this.
#[derive(Debug, thiserror::Error)]
#[error("no complete answer from the Kubernetes API within {0:?}")]
pub struct TimedOut(pub Duration);

/// The client from the environment (KUBECONFIG or in-cluster), every request but watches
/// bounded by `deadline`.
pub async fn connect(deadline: Duration) -> Result<Client, Error> {
    connect_as(deadline, None).await
}

/// As [`connect`], every request made as `user` when given (impersonation: the
/// environment's identity needs the `impersonate` verb on that user; a
/// `system:serviceaccount:<ns>:<name>` is authorized as that ServiceAccount, with its
/// groups).
pub async fn connect_as(deadline: Duration, user: Option<&str>) -> Result<Client, Error> {
    let mut config = Config::infer().await.map_err(Error::Config)?;
    if let Some(user) = user {
        config.auth_info.impersonate = Some(user.to_owned());
        // The API server gives an impersonated ServiceAccount its own groups only when
        // none are asked for.
        config.auth_info.impersonate_groups = None;
    }
    Ok(ClientBuilder::try_from(config)
        .map_err(Error::Client)?
        .with_layer(&Deadline(deadline))
        .build())
}

/// A watch streams for as long as the server keeps it open: no total deadline fits it.
fn is_watch(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1")
    })
}

/// Bounds every non-watch request by a deadline.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub Duration);

impl<S> Layer<S> for Deadline {
    type Service = WithDeadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithDeadline {
            inner,
            after: self.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct WithDeadline<S> {
    inner: S,
    after: Duration,
}

type Answer<B> = Response<Bounded<B>>;

impl<S, ReqBody, B> Service<Request<ReqBody>> for WithDeadline<S>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = Answer<B>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Answer<B>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let deadline = (!is_watch(request.uri())).then(|| Instant::now() + self.after);
        let after = self.after;
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = match deadline {
                None => answer.await.map_err(Into::into)?,
                Some(at) => tokio::time::timeout_at(at, answer)
                    .await
                    .map_err(|_| TimedOut(after))?
                    .map_err(Into::into)?,
            };
            Ok(response.map(|body| Bounded {
                inner: body,
                deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
                after,
            }))
        })
    }
}

/// A response body that fails once the request's deadline passes.
pub struct Bounded<B> {
    inner: B,
    deadline: Option<Pin<Box<Sleep>>>,
    after: Duration,
}

impl<B> Body for Bounded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let after = self.after;
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(TimedOut(after).into())));
        }
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    #[test]
    fn only_watches_are_unbounded() {
        for (uri, watch) in [
            (
                "/apis/breakglass.dev/v1alpha1/breakglassgrants?&watch=true&timeoutSeconds=290",
                true,
            ),
            ("/api/v1/namespaces/a/configmaps?watch=1", true),
            (
                "/apis/breakglass.dev/v1alpha1/breakglassgrants?limit=500",
                false,
            ),
            ("/api/v1/namespaces/a/configmaps/watch-list", false),
            ("/api/v1/namespaces", false),
        ] {
            assert_eq!(is_watch(&uri.parse().expect("uri")), watch, "{uri}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_never_answered_fails_at_its_deadline_and_a_watch_does_not() {
        let never = tower::service_fn(|_: Request<()>| {
            std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>()
        });
        let mut svc = Deadline(Duration::from_secs(30)).layer(never);
        let get = svc.call(
            Request::get("/api/v1/namespaces")
                .body(())
                .expect("request"),
        );
        let Err(err) = get.await else {
            panic!("the deadline ends it")
        };
        assert!(err.is::<TimedOut>(), "{err}");

        let watch = svc.call(
            Request::get("/api/v1/pods?watch=true")
                .body(())
                .expect("request"),
        );
        let waited = tokio::time::timeout(Duration::from_secs(3600), watch).await;
        assert!(
            waited.is_err(),
            "a watch waits as long as the server keeps it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_midway_fails_at_the_deadline() {
        let stalled_body = tower::service_fn(|_: Request<()>| async {
            let frames = futures::stream::once(async {
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"{\"items\":[")))
            })
            .chain(futures::stream::pending());
            Ok::<_, Infallible>(Response::new(StreamBody::new(Box::pin(frames))))
        });
        let mut svc = Deadline(Duration::from_secs(30)).layer(stalled_body);
        let response = svc
            .call(
                Request::get("/api/v1/namespaces")
                    .body(())
                    .expect("request"),
            )
            .await
            .expect("the head arrives in time");
        let err = response.into_body().collect().await.expect_err("cut");
        assert!(err.is::<TimedOut>(), "{err}");
    }

    use futures::StreamExt;
}
