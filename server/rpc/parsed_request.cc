#include "server/rpc/parsed_request.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace kvasir::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

// Nested messages deeper than this are not searched for the bad field.
constexpr int kMaxDiagnoseDepth = 16;

// Well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF), the rule protobuf applies to proto3 string fields.
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int n = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(n)) return false;  // truncated
    for (int k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// The path of the first string field in `fields` (a message of type `type`)
// that is not valid UTF-8, searching nested messages; nullopt if none.
std::optional<std::string> FindBadString(const UnknownFieldSet& fields,
                                         const Descriptor* type, int depth) {
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const FieldDescriptor* field = type->FindFieldByNumber(f.number());
    if (field == nullptr) continue;
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (!IsValidUtf8(f.length_delimited())) return field->name();
    } else if (field->type() == FieldDescriptor::TYPE_MESSAGE &&
               depth < kMaxDiagnoseDepth) {
      UnknownFieldSet nested;
      if (!nested.ParseFromString(f.length_delimited())) continue;
      if (std::optional<std::string> path =
              FindBadString(nested, field->message_type(), depth + 1)) {
        return absl::StrCat(field->name(), ".", *path);
      }
    }
  }
  return std::nullopt;
}

// Why `buffer` is not a message of type `type` (called after the parse
// failed; reads the buffer again).
std::string Diagnose(grpc::ByteBuffer* buffer, const Descriptor* type) {
  grpc::ProtoBufferReader reader(buffer);
  UnknownFieldSet fields;
  if (!reader.status().ok() || !fields.ParseFromZeroCopyStream(&reader)) {
    return "the bytes are not protobuf wire data";
  }
  if (std::optional<std::string> path = FindBadString(fields, type, 0)) {
    return absl::StrCat("string field '", *path,
                        "' is not valid UTF-8 (send text as UTF-8)");
  }
  return "the bytes do not match its schema";
}

}  // namespace

absl::Status ParseRequestBuffer(grpc::ByteBuffer* buffer,
                                google::protobuf::Message* message) {
  if (buffer == nullptr || !buffer->Valid()) {
    return absl::InvalidArgumentError("the call carried no request message");
  }
  bool ok = false;
  {
    grpc::ProtoBufferReader reader(buffer);
    ok = reader.status().ok() && message->ParseFromZeroCopyStream(&reader);
  }
  absl::Status status;
  if (!ok) {
    message->Clear();
    status =
        absl::InvalidArgumentError(Diagnose(buffer, message->GetDescriptor()));
  }
  buffer->Clear();
  return status;
}

absl::Status UnparsedStatus(const absl::Status& parse_error,
                            absl::string_view method,
                            absl::string_view type_name) {
  return absl::InvalidArgumentError(
      absl::StrCat(method, ": the request could not be parsed as a ", type_name,
                   ": ", parse_error.message()));
}

}  // namespace kvasir::server
