// Schema conformance checks for decoded messages (see schema_check.h). The fast path compiles the
// Envelope schema into a small plan once; validating a typical message then costs about as much as
// reading it, instead of the several microseconds the dynamic API needs.
#include "schema_check.h"

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include <capnp/schema.h>

#include "plume/protocol/plume.capnp.h"

namespace plume::detail {
namespace {

// ---------------------------------------------------------------- dynamic reference walk

std::string WalkValue(const capnp::DynamicValue::Reader& value) {
  switch (value.getType()) {
    case capnp::DynamicValue::TEXT:
      value.as<capnp::Text>();
      return {};
    case capnp::DynamicValue::DATA:
      value.as<capnp::Data>();
      return {};
    case capnp::DynamicValue::LIST:
      for (auto element : value.as<capnp::DynamicList>()) {
        if (auto e = WalkValue(element); !e.empty()) return e;
      }
      return {};
    case capnp::DynamicValue::STRUCT:
      return CheckStructDynamic(value.as<capnp::DynamicStruct>());
    case capnp::DynamicValue::ENUM: {
      auto e = value.as<capnp::DynamicEnum>();
      if (e.getEnumerant() == nullptr) {
        return "unknown value " + std::to_string(e.getRaw()) + " of enum " +
               e.getSchema().getShortDisplayName().cStr();
      }
      return {};
    }
    default:
      return {};
  }
}

// ---------------------------------------------------------------- compiled plan

enum class Kind { kText, kData, kStruct, kEnum, kListText, kListData, kListStruct, kListEnum, kListPrimitive };

struct Plan;

struct Item {
  Kind kind;
  uint32_t offset = 0;          // pointer index, or uint16 offset in the data section (enums)
  uint16_t enum_count = 0;      // enums and lists of enums
  const Plan* sub = nullptr;    // structs and lists of structs
  uint8_t element_bits = 0;     // lists of primitives
};

struct Plan {
  std::string name;
  std::vector<Item> items;             // non-union fields
  std::vector<const Plan*> groups;     // non-union groups (same sections as the parent)
  bool has_union = false;
  uint32_t discriminant_offset = 0;    // uint16 units
  std::vector<std::unique_ptr<Plan>> variants;  // indexed by discriminant value
};

class Compiler {
 public:
  // Returns nullptr where the schema uses something the plan does not cover (lists of lists,
  // AnyPointer, interfaces); callers then use the dynamic walk.
  const Plan* Compile(capnp::StructSchema schema) {
    auto id = schema.getProto().getId();
    if (auto it = plans_.find(id); it != plans_.end()) return it->second.get();
    auto plan = std::make_unique<Plan>();
    Plan* raw = plan.get();
    plans_.emplace(id, std::move(plan));  // before the fields: recursive schemas terminate
    raw->name = schema.getShortDisplayName().cStr();
    if (!FillFields(schema, schema.getNonUnionFields(), *raw)) return Unsupported();
    auto union_fields = schema.getUnionFields();
    if (union_fields.size() > 0) {
      raw->has_union = true;
      raw->discriminant_offset = schema.getProto().getStruct().getDiscriminantOffset();
      raw->variants.resize(schema.getProto().getStruct().getDiscriminantCount());
      for (auto field : union_fields) {
        auto variant = std::make_unique<Plan>();
        variant->name = raw->name;
        if (!FillOne(field, *variant)) return Unsupported();
        auto d = field.getProto().getDiscriminantValue();
        if (d >= raw->variants.size()) return Unsupported();
        raw->variants[d] = std::move(variant);
      }
    }
    return raw;
  }
  bool ok() const { return ok_; }

 private:
  const Plan* Unsupported() {
    ok_ = false;
    return nullptr;
  }
  bool FillFields(capnp::StructSchema, capnp::StructSchema::FieldSubset fields, Plan& plan) {
    for (auto field : fields) {
      if (!FillOne(field, plan)) return false;
    }
    return true;
  }
  bool FillOne(capnp::StructSchema::Field field, Plan& plan) {
    auto proto = field.getProto();
    if (proto.isGroup()) {
      const Plan* group = Compile(field.getType().asStruct());
      if (!group) return false;
      plan.groups.push_back(group);
      return true;
    }
    auto type = field.getType();
    uint32_t offset = proto.getSlot().getOffset();
    using W = capnp::schema::Type;
    switch (type.which()) {
      case W::TEXT: plan.items.push_back({Kind::kText, offset}); return true;
      case W::DATA: plan.items.push_back({Kind::kData, offset}); return true;
      case W::ENUM: {
        auto count = static_cast<uint16_t>(type.asEnum().getEnumerants().size());
        plan.items.push_back({Kind::kEnum, offset, count});
        return true;
      }
      case W::STRUCT: {
        const Plan* sub = Compile(type.asStruct());
        if (!sub) return false;
        plan.items.push_back({Kind::kStruct, offset, 0, sub});
        return true;
      }
      case W::LIST: return FillList(type.asList().getElementType(), offset, plan);
      case W::ANY_POINTER:
      case W::INTERFACE: return false;
      default: return true;  // void, bool and numbers: any bits are valid
    }
  }
  bool FillList(capnp::Type element, uint32_t offset, Plan& plan) {
    using W = capnp::schema::Type;
    switch (element.which()) {
      case W::TEXT: plan.items.push_back({Kind::kListText, offset}); return true;
      case W::DATA: plan.items.push_back({Kind::kListData, offset}); return true;
      case W::ENUM: {
        auto count = static_cast<uint16_t>(element.asEnum().getEnumerants().size());
        plan.items.push_back({Kind::kListEnum, offset, count});
        return true;
      }
      case W::STRUCT: {
        const Plan* sub = Compile(element.asStruct());
        if (!sub) return false;
        plan.items.push_back({Kind::kListStruct, offset, 0, sub});
        return true;
      }
      case W::BOOL: plan.items.push_back({Kind::kListPrimitive, offset, 0, nullptr, 1}); return true;
      case W::INT8: case W::UINT8:
        plan.items.push_back({Kind::kListPrimitive, offset, 0, nullptr, 8}); return true;
      case W::INT16: case W::UINT16:
        plan.items.push_back({Kind::kListPrimitive, offset, 0, nullptr, 16}); return true;
      case W::INT32: case W::UINT32: case W::FLOAT32:
        plan.items.push_back({Kind::kListPrimitive, offset, 0, nullptr, 32}); return true;
      case W::INT64: case W::UINT64: case W::FLOAT64:
        plan.items.push_back({Kind::kListPrimitive, offset, 0, nullptr, 64}); return true;
      default: return false;  // lists of lists, void, AnyPointer, interfaces
    }
  }

  std::map<uint64_t, std::unique_ptr<Plan>> plans_;
  bool ok_ = true;

 public:
  std::map<uint64_t, std::unique_ptr<Plan>>& plans() { return plans_; }
};

struct CompiledEnvelope {
  std::unique_ptr<Compiler> compiler = std::make_unique<Compiler>();
  const Plan* root = nullptr;
};

const CompiledEnvelope& Envelope() {
  static const CompiledEnvelope compiled = [] {
    CompiledEnvelope c;
    c.root = c.compiler->Compile(capnp::Schema::from<wire::Envelope>());
    if (!c.compiler->ok()) c.root = nullptr;
    return c;
  }();
  return compiled;
}

uint16_t ReadU16(kj::ArrayPtr<const capnp::byte> data, uint32_t offset16) {
  size_t at = size_t{offset16} * 2;
  if (at + 2 > data.size()) return 0;  // outside the (older, shorter) data section: default 0
  uint16_t v;
  std::memcpy(&v, data.begin() + at, 2);
  return v;  // Cap'n Proto is little-endian on the wire, as are our targets
}

std::string Check(const Plan& plan, capnp::AnyStruct::Reader s);

template <class T>
void Touch(capnp::AnyPointer::Reader p) {
  for (auto e : p.getAs<capnp::List<T>>()) (void)e;
}

std::string CheckItem(const Plan& plan, const Item& item, capnp::AnyStruct::Reader s) {
  if (item.kind == Kind::kEnum) {
    uint16_t v = ReadU16(s.getDataSection(), item.offset);
    if (v >= item.enum_count) {
      return "unknown enum value " + std::to_string(v) + " in " + plan.name;
    }
    return {};
  }
  auto pointers = s.getPointerSection();
  if (item.offset >= pointers.size()) return {};  // absent pointer: the default value
  auto p = pointers[item.offset];
  if (p.isNull()) return {};
  switch (item.kind) {
    case Kind::kText: (void)p.getAs<capnp::Text>(); return {};
    case Kind::kData: (void)p.getAs<capnp::Data>(); return {};
    case Kind::kStruct: return Check(*item.sub, p.getAs<capnp::AnyStruct>());
    case Kind::kListText: Touch<capnp::Text>(p); return {};
    case Kind::kListData: Touch<capnp::Data>(p); return {};
    case Kind::kListStruct: {
      // Typed readers refuse bit lists where structs are expected; other element sizes are
      // read as (upgraded) structs, so they are fine.
      auto list = p.getAs<capnp::AnyList>();
      if (list.getElementSize() == capnp::ElementSize::BIT) {
        return "a list of bits where " + plan.name + " expects a list of structs";
      }
      for (auto e : list.as<capnp::List<capnp::AnyStruct>>()) {
        if (auto err = Check(*item.sub, e); !err.empty()) return err;
      }
      return {};
    }
    case Kind::kListEnum:
      for (uint16_t v : p.getAs<capnp::List<uint16_t>>()) {
        if (v >= item.enum_count) return "unknown enum value " + std::to_string(v) + " in " + plan.name;
      }
      return {};
    case Kind::kListPrimitive:
      switch (item.element_bits) {
        case 1: Touch<bool>(p); break;
        case 8: Touch<uint8_t>(p); break;
        case 16: Touch<uint16_t>(p); break;
        case 32: Touch<uint32_t>(p); break;
        default: Touch<uint64_t>(p); break;
      }
      return {};
    case Kind::kEnum: return {};
  }
  return {};
}

std::string Check(const Plan& plan, capnp::AnyStruct::Reader s) {
  for (const auto& item : plan.items) {
    if (auto e = CheckItem(plan, item, s); !e.empty()) return e;
  }
  for (const Plan* group : plan.groups) {
    if (auto e = Check(*group, s); !e.empty()) return e;
  }
  if (plan.has_union) {
    uint16_t d = ReadU16(s.getDataSection(), plan.discriminant_offset);
    if (d >= plan.variants.size() || !plan.variants[d]) {
      return "unknown member of union in " + plan.name + " (sent by a newer protocol version?)";
    }
    return Check(*plan.variants[d], s);
  }
  return {};
}

}  // namespace

std::string CheckStructDynamic(const capnp::DynamicStruct::Reader& s) {
  auto schema = s.getSchema();
  for (auto field : schema.getNonUnionFields()) {
    if (auto e = WalkValue(s.get(field)); !e.empty()) return e;
  }
  if (schema.getUnionFields().size() > 0) {
    KJ_IF_MAYBE(field, s.which()) {
      return WalkValue(s.get(*field));
    } else {
      return std::string("unknown member of union in ") + schema.getShortDisplayName().cStr() +
             " (sent by a newer protocol version?)";
    }
  }
  return {};
}

std::string CheckEnvelopeFast(capnp::AnyStruct::Reader envelope) {
  const Plan* root = Envelope().root;
  if (root == nullptr) {
    // The schema grew a type the plan does not cover; stay correct, just slower.
    return CheckStructDynamic(
        capnp::toDynamic(envelope.as<wire::Envelope>()));
  }
  return Check(*root, envelope);
}

}  // namespace plume::detail
