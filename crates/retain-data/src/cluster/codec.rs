//! How retain's parts of a plan travel between client, scheduler and executors: the log table
//! (client to scheduler), the log scan (scheduler to executors) and the `arg_min` aggregate.
//! Each is encoded as a tag and JSON; anything else goes to Ballista's own codecs, which know
//! its shuffle nodes and DataFusion's file formats.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use super::scan::{LogScanExec, LogTable, ScanSpec};
use crate::arg_min::{arg_min_udaf, ARG_MIN};

/// Marks retain's encodings, so they are never mistaken for Ballista's (protobuf) ones.
const TAG: &[u8] = b"retain.v1:";

fn tagged<T: serde::Serialize>(value: &T, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(TAG);
    serde_json::to_writer(buf, value).map_err(|e| DataFusionError::Internal(e.to_string()))
}

fn untagged<T: serde::de::DeserializeOwned>(buf: &[u8]) -> Option<Result<T>> {
    let body = buf.strip_prefix(TAG)?;
    Some(serde_json::from_slice(body).map_err(|e| DataFusionError::Internal(e.to_string())))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ScanNode {
    spec: ScanSpec,
    projection: Option<Vec<usize>>,
}

/// The logical codec of client and scheduler.
#[derive(Debug, Default)]
pub struct RetainLogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for RetainLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match untagged::<ScanSpec>(buf) {
            Some(spec) => Ok(Arc::new(LogTable {
                spec: Arc::new(spec?),
            })),
            None => self
                .ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<LogTable>() {
            Some(table) => tagged(table.spec.as_ref(), buf),
            None => self
                .ballista
                .try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.ballista.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udaf(node, buf)
    }
}

/// The physical codec of scheduler and executors.
#[derive(Debug, Default)]
pub struct RetainPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for RetainPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match untagged::<ScanNode>(buf) {
            Some(node) => {
                let node = node?;
                let [files] = inputs else {
                    return Err(DataFusionError::Internal(
                        "a RetainLogScan arrived without its input of file indices".into(),
                    ));
                };
                Ok(Arc::new(LogScanExec::with_input(
                    Arc::new(node.spec),
                    node.projection,
                    files.clone(),
                )?))
            }
            None => self.ballista.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        match node.downcast_ref::<LogScanExec>() {
            Some(scan) => tagged(
                &ScanNode {
                    spec: scan.spec.as_ref().clone(),
                    projection: scan.projection.clone(),
                },
                buf,
            ),
            None => self.ballista.try_encode(node, buf, proto_converter),
        }
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.ballista.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udaf(node, buf)
    }
}

// `arg_min` carries no parameters: its name under the tag is all a decoder needs, and it finds
// it without a function registry.
fn encode_udaf(node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
    if node.name() == ARG_MIN {
        tagged(&ARG_MIN, buf)?;
    }
    Ok(())
}

fn decode_udaf(name: &str, buf: &[u8]) -> Option<Result<Arc<AggregateUDF>>> {
    let tagged_name = untagged::<String>(buf)?;
    Some(tagged_name.and_then(|n| {
        if n == ARG_MIN && name == ARG_MIN {
            Ok(arg_min_udaf())
        } else {
            Err(DataFusionError::Internal(format!(
                "unknown retain aggregate {name:?}"
            )))
        }
    }))
}
