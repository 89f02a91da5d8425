// absl <-> gRPC status conversion: code and message, and meshtrain payloads in the status
// details in google.rpc.Status's wire format (read back here field by field with protobuf's
// generic wire parser, not with our own message), so other gRPC clients can parse them.
#include <string>

#include "absl/strings/cord.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "runtime/rpc/security.h"

namespace mt::rpc {
namespace {

TEST(RpcStatus, PayloadsTravelAsGoogleRpcStatusDetails) {
  absl::Status st = absl::FailedPreconditionError("rendezvous of generation 2 is closed");
  st.SetPayload("type.meshtrain.dev/join-refusal", absl::Cord("closed"));
  st.SetPayload("example.com/other", absl::Cord("not ours"));  // stays behind
  const grpc::Status wire = ToGrpc(st);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(wire.error_message(), "rendezvous of generation 2 is closed");

  // google.rpc.Status: 1 code (varint), 2 message (string), 3 details (Any: 1 type_url, 2 value).
  google::protobuf::UnknownFieldSet fields;
  ASSERT_TRUE(fields.ParseFromString(wire.error_details()));
  int details = 0;
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& f = fields.field(i);
    if (f.number() == 1) {
      EXPECT_EQ(f.varint(), 9u);  // FAILED_PRECONDITION
    }
    if (f.number() == 2) {
      EXPECT_EQ(f.length_delimited(), "rendezvous of generation 2 is closed");
    }
    if (f.number() != 3) continue;
    ++details;
    google::protobuf::UnknownFieldSet any;
    ASSERT_TRUE(any.ParseFromString(f.length_delimited()));
    ASSERT_EQ(any.field_count(), 2);
    EXPECT_EQ(any.field(0).length_delimited(), "type.meshtrain.dev/join-refusal");
    EXPECT_EQ(any.field(1).length_delimited(), "closed");
  }
  EXPECT_EQ(details, 1);

  const absl::Status back = FromGrpc(wire, "join");
  EXPECT_EQ(back.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(back.message(), "join: rendezvous of generation 2 is closed");
  EXPECT_EQ(back.GetPayload("type.meshtrain.dev/join-refusal"), absl::Cord("closed"));
  EXPECT_FALSE(back.GetPayload("example.com/other").has_value());
}

TEST(RpcStatus, NoPayloadNoDetailsAndForeignDetailsAreIgnored) {
  EXPECT_TRUE(ToGrpc(absl::NotFoundError("no such model")).error_details().empty());
  EXPECT_TRUE(ToGrpc(absl::OkStatus()).ok());
  const grpc::Status odd(grpc::StatusCode::INTERNAL, "boom", "\xff\xff not a proto");
  const absl::Status back = FromGrpc(odd, "call");
  EXPECT_EQ(back.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(back.message(), "call: boom");
}

}  // namespace
}  // namespace mt::rpc
