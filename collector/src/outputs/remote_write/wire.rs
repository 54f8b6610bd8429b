//! The Prometheus remote write 1.0 body: a protobuf `WriteRequest` (its messages are in
//! `zerofault_protocol::remote_write`, shared with the tests' receivers) compressed with
//! snappy's block format.

pub use zerofault_protocol::remote_write::{
    CONTENT_ENCODING, CONTENT_TYPE, Label, Sample, TimeSeries, VERSION, VERSION_HEADER,
    WriteRequest,
};

/// The body of one request: `request` encoded and snappy-compressed (block format).
pub fn body(request: &WriteRequest) -> Vec<u8> {
    let bytes = prost::Message::encode_to_vec(request);
    // Compressing a byte slice into a fresh buffer only fails for inputs above 2^32 - 1
    // bytes; a request is bounded far below (settings: max_samples_per_send).
    snap::raw::Encoder::new()
        .compress_vec(&bytes)
        .expect("a request is far below snappy's 4 GiB input limit")
}

/// Why a body is not a 1.0 request: snappy or protobuf failed, or it would expand beyond the
/// caller's ceiling (checked from snappy's header before decompressing).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not snappy block format.
    #[error("not a snappy block: {0}")]
    Snappy(#[from] snap::Error),
    /// Would expand beyond the ceiling.
    #[error("expands to {len} bytes, more than {max}")]
    TooLarge {
        /// The length snappy's header announces.
        len: usize,
        /// The ceiling.
        max: usize,
    },
    /// Not a `WriteRequest`.
    #[error("not a WriteRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// Decodes a 1.0 body of at most `max_decoded` bytes once decompressed (for tests and tools
/// that read what was sent; the collector never receives remote write).
pub fn decode(body: &[u8], max_decoded: usize) -> Result<WriteRequest, DecodeError> {
    let len = snap::raw::decompress_len(body)?;
    if len > max_decoded {
        return Err(DecodeError::TooLarge {
            len,
            max: max_decoded,
        });
    }
    let bytes = snap::raw::Decoder::new().decompress_vec(body)?;
    Ok(prost::Message::decode(bytes.as_slice())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_goes_through_snappy_and_protobuf_and_back() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "zerofault_host_cpu_cores".into(),
                    },
                    Label {
                        name: "agent".into(),
                        value: "web-01".into(),
                    },
                ],
                samples: vec![Sample {
                    value: 8.0,
                    timestamp: 1_764_547_200_000,
                }],
            }],
        };
        let body = body(&request);
        assert_eq!(decode(&body, 1 << 20).unwrap(), request);
        assert!(matches!(
            decode(&body, 10),
            Err(DecodeError::TooLarge { max: 10, .. })
        ));
        assert!(decode(b"not snappy at all", 1 << 20).is_err());
    }

    #[test]
    fn field_numbers_are_the_specs() {
        // WriteRequest{timeseries(1): TimeSeries{labels(1): Label{name(1) "a", value(2)
        // "b"}, samples(2): Sample{value(1) 1.0, timestamp(2) 5}}}, written out by hand.
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "a".into(),
                    value: "b".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 5,
                }],
            }],
        };
        let expected: Vec<u8> = vec![
            0x0a, 0x15, // timeseries, 21 bytes
            0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', // labels
            0x12, 0x0b, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0x05, // samples
        ];
        assert_eq!(prost::Message::encode_to_vec(&request), expected);
    }
}
