//! A typed WS-Management client for one device: `amt-wsman` envelopes over a
//! [`WsmanConnection`].
//!
//! It numbers requests (Intel's decimal MessageID counter), checks that each answer relates to
//! the request it sent, turns SOAP faults into [`WsmanError::Fault`], and offers typed
//! Get/Put/Create/Delete, whole enumerations (Enumerate, then Pull until `EndOfSequence`), and
//! method calls returning the typed `_OUTPUT`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use amt_wsman::classes::{MethodInput, MethodOutput, WsmanClass};

use amt_wsman::envelope::{Operation, Pull};
use amt_wsman::{
    EndpointReference, Fault, Instance, Item, Request, Response, ResponseBody, SelectorSet,
};

use crate::transport::{TransportError, WsmanConnection};

/// Most Pull round trips of one enumeration (AMT pages hold many items; a device that never
/// ends its sequence must not keep us looping).
const MAX_PULLS: usize = 1000;

/// Why a WS-Management exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsmanError {
    /// The HTTP/TLS exchange failed (see [`TransportError`] for who failed and whether a retry
    /// can help).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The device's answer is not a WS-Management response we can read (the device's fault).
    #[error("device sent an unreadable response: {0}")]
    Decode(#[from] amt_wsman::Error),
    /// The device answered with a SOAP fault.
    #[error("device fault: {0}")]
    Fault(Fault),
    /// The device answered something other than what the request asked for.
    #[error("device answered {found} to a {expected} request")]
    UnexpectedBody {
        /// What we asked.
        expected: &'static str,
        /// What came back.
        found: String,
    },
    /// The answer's `RelatesTo` does not name our request.
    #[error("response relates to message {found:?}, we sent {sent:?}")]
    WrongRelatesTo {
        /// MessageID we sent.
        sent: String,
        /// RelatesTo received.
        found: Option<String>,
    },
    /// An HTTP status that carries no SOAP envelope.
    #[error("device answered HTTP {status} without a WS-Management envelope")]
    HttpStatus {
        /// The status.
        status: u16,
    },
    /// An enumeration did not end within the allowed number of Pulls.
    #[error("enumeration of {class} did not end after {pulls} pulls")]
    EndlessEnumeration {
        /// Class enumerated.
        class: String,
        /// Pulls made.
        pulls: usize,
    },
}

/// A typed WS-Management client for one device.
pub struct WsmanClient {
    conn: WsmanConnection,
    next_id: AtomicU64,
}

impl WsmanClient {
    /// Wraps a connection. Message IDs start at 0, as in Intel's libraries.
    pub fn new(conn: WsmanConnection) -> Self {
        WsmanClient {
            conn,
            next_id: AtomicU64::new(0),
        }
    }

    /// The underlying connection.
    pub fn connection(&self) -> &WsmanConnection {
        &self.conn
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends a request (its MessageID is replaced by the client's counter) and returns the
    /// parsed response. Faults are returned as [`WsmanError::Fault`].
    pub async fn send(&self, req: Request) -> Result<Response, WsmanError> {
        self.send_with_timeout(req, self.conn.config().request_timeout)
            .await
    }

    /// [`send`](Self::send) with a request-specific timeout (TLS Put, CommitChanges).
    pub async fn send_with_timeout(
        &self,
        mut req: Request,
        timeout: Duration,
    ) -> Result<Response, WsmanError> {
        let id = self.next_id().to_string();
        req.header.message_id = id.clone();
        let http = self
            .conn
            .post_with_timeout(req.to_xml().as_bytes(), timeout)
            .await?;
        let resp = match Response::parse(&http.body) {
            Ok(r) => r,
            Err(e) if http.is_success() => return Err(WsmanError::Decode(e)),
            Err(_) => {
                return Err(WsmanError::HttpStatus {
                    status: http.status,
                })
            }
        };
        if let ResponseBody::Fault(f) = resp.body {
            return Err(WsmanError::Fault(f));
        }
        if resp.header.relates_to.as_deref() != Some(id.as_str()) {
            return Err(WsmanError::WrongRelatesTo {
                sent: id,
                found: resp.header.relates_to,
            });
        }
        Ok(resp)
    }

    /// Gets the instance of `T` selected by `selectors` (empty for singletons).
    pub async fn get<T: WsmanClass>(&self, selectors: SelectorSet) -> Result<T, WsmanError> {
        match self.send(T::get(0, selectors)).await?.body {
            ResponseBody::Get(i) => Ok(T::from_instance(&i)?),
            other => Err(unexpected("Get", &other)),
        }
    }

    /// Replaces an instance; returns what the device echoes back, when it does.
    pub async fn put<T: WsmanClass>(
        &self,
        value: &T,
        selectors: SelectorSet,
        timeout: Duration,
    ) -> Result<Option<T>, WsmanError> {
        match self
            .send_with_timeout(value.put(0, selectors), timeout)
            .await?
            .body
        {
            ResponseBody::Put(Some(i)) => Ok(Some(T::from_instance(&i)?)),
            ResponseBody::Put(None) => Ok(None),
            other => Err(unexpected("Put", &other)),
        }
    }

    /// Creates an instance; returns the reference to it.
    pub async fn create<T: WsmanClass>(&self, value: &T) -> Result<EndpointReference, WsmanError> {
        match self.send(value.create(0)).await?.body {
            ResponseBody::Create(epr) => Ok(epr),
            other => Err(unexpected("Create", &other)),
        }
    }

    /// Deletes the instance of `T` selected by `selectors`.
    pub async fn delete<T: WsmanClass>(&self, selectors: SelectorSet) -> Result<(), WsmanError> {
        match self.send(T::delete(0, selectors)).await?.body {
            ResponseBody::Delete(_) => Ok(()),
            other => Err(unexpected("Delete", &other)),
        }
    }

    /// Every instance of `T`: Enumerate, then Pull until the device says `EndOfSequence`.
    pub async fn enumerate<T: WsmanClass>(&self) -> Result<Vec<T>, WsmanError> {
        let mut out = Vec::new();
        for i in self.enumerate_instances(T::CLASS).await? {
            out.push(T::from_instance(&i)?);
        }
        Ok(out)
    }

    /// The instance of any class (short name or resource URI), untyped.
    pub async fn get_instance(
        &self,
        class: &str,
        selectors: SelectorSet,
    ) -> Result<Instance, WsmanError> {
        let req = Request::new(class, 0, Operation::Get).with_selectors(selectors);
        match self.send(req).await?.body {
            ResponseBody::Get(i) => Ok(i),
            other => Err(unexpected("Get", &other)),
        }
    }

    /// Every instance of any class (short name or resource URI), untyped.
    pub async fn enumerate_instances(&self, class: &str) -> Result<Vec<Instance>, WsmanError> {
        let req = Request::new(class, 0, Operation::Enumerate(Default::default()));
        let mut context = match self.send(req).await?.body {
            ResponseBody::Enumerate { context, .. } => context,
            other => return Err(unexpected("Enumerate", &other)),
        };
        let mut out = Vec::new();
        for _ in 0..MAX_PULLS {
            let Some(ctx) = context.take() else {
                return Ok(out);
            };
            let req = Request::new(
                class,
                0,
                Operation::Pull(Pull {
                    context: ctx,
                    max_elements: Some(999),
                    max_characters: Some(99999),
                }),
            );
            match self.send(req).await?.body {
                ResponseBody::Pull {
                    items,
                    context: next,
                    end_of_sequence,
                } => {
                    out.extend(items.into_iter().filter_map(|it| match it {
                        Item::Instance(i) | Item::Both(i, _) => Some(i),
                        Item::Epr(_) => None,
                    }));
                    if end_of_sequence {
                        return Ok(out);
                    }
                    context = next;
                }
                other => return Err(unexpected("Pull", &other)),
            }
        }
        Err(WsmanError::EndlessEnumeration {
            class: class.to_owned(),
            pulls: MAX_PULLS,
        })
    }

    /// Invokes a method and returns its typed output. `O` must be the same method's output type.
    pub async fn invoke<I: MethodInput, O: MethodOutput>(
        &self,
        input: &I,
        selectors: SelectorSet,
        timeout: Duration,
    ) -> Result<O, WsmanError> {
        debug_assert_eq!(I::METHOD, O::METHOD);
        match self
            .send_with_timeout(input.request(0, selectors), timeout)
            .await?
            .body
        {
            ResponseBody::Invoke { method, output } if method == I::METHOD => {
                Ok(O::from_instance(&output)?)
            }
            other => Err(unexpected(I::METHOD, &other)),
        }
    }
}

fn unexpected(expected: &'static str, body: &ResponseBody) -> WsmanError {
    let found = match body {
        ResponseBody::Get(_) => "a Get response".to_owned(),
        ResponseBody::Put(_) => "a Put response".to_owned(),
        ResponseBody::Create(_) => "a Create response".to_owned(),
        ResponseBody::Delete(_) => "a Delete response".to_owned(),
        ResponseBody::Enumerate { .. } => "an Enumerate response".to_owned(),
        ResponseBody::Pull { .. } => "a Pull response".to_owned(),
        ResponseBody::Release => "a Release response".to_owned(),
        ResponseBody::Invoke { method, .. } => format!("a {method} response"),
        ResponseBody::Fault(f) => format!("a fault ({f})"),
    };
    WsmanError::UnexpectedBody { expected, found }
}
