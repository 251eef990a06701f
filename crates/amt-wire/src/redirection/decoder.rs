//! Streaming: messages out of whatever segments TCP (or TLS) delivers.

use super::{Message, MAX_FRAME_LEN};
use crate::Error;

/// Splits a byte stream into [`Message`]s, for either side: [`RedirectionDecoder::push`] what
/// arrives, then call [`RedirectionDecoder::next_message`] until it returns `Ok(None)`.
///
/// Memory is bounded: one message is at most [`MAX_FRAME_LEN`] bytes, and `push` refuses to
/// hold more than [`RedirectionDecoder::MAX_BUFFERED`] undecoded bytes, so a reader that pushes
/// at most [`MAX_FRAME_LEN`] bytes at a time and drains messages after each push never hits
/// the limit with a well-formed stream. After an error the stream cannot be resynchronised:
/// close the connection.
#[derive(Debug, Default)]
pub struct RedirectionDecoder {
    buf: Vec<u8>,
    failed: Option<Error>,
}

impl RedirectionDecoder {
    /// Most undecoded bytes held at once.
    pub const MAX_BUFFERED: usize = 2 * MAX_FRAME_LEN;

    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes from the peer.
    ///
    /// # Errors
    /// [`Error::RedirectionBufferFull`] when more than [`Self::MAX_BUFFERED`] bytes would be
    /// waiting, or the error a previous call reported.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let len = self.buf.len().saturating_add(bytes.len());
        if len > Self::MAX_BUFFERED {
            let e = Error::RedirectionBufferFull {
                len,
                max: Self::MAX_BUFFERED,
            };
            self.failed = Some(e.clone());
            return Err(e);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// Whatever [`Message::decode_prefix`] reports; the decoder then repeats that error.
    pub fn next_message(&mut self) -> Result<Option<Message>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match Message::decode_prefix(&self.buf) {
            Ok(Some((m, len))) => {
                self.buf.drain(..len);
                Ok(Some(m))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                self.buf = Vec::new();
                Err(e)
            }
        }
    }

    /// Undecoded bytes waiting.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}
