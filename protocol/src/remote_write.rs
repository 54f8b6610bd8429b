//! The collector's outbound contract: Prometheus remote write 1.0 messages
//! (`prometheus/prompb/types.proto`, `remote.proto`), which the collector pushes to
//! receivers. Only the fields 1.0 senders fill are declared; prost skips the others when
//! decoding. The body is this message snappy-compressed (block format); the collector's
//! `outputs::remote_write::wire` makes it.

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series, each with its samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name (`__name__` included), samples in time
/// order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Sorted by name, no duplicates, no empty values.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// In timestamp order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value, never empty.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The spec's request headers, besides `Content-Length`.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// `Content-Encoding` of a 1.0 body.
pub const CONTENT_ENCODING: &str = "snappy";
/// `X-Prometheus-Remote-Write-Version` of 1.0.
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
/// Its value for 1.0.
pub const VERSION: &str = "0.1.0";
