// A form drawn from a controller config's JSON schema (pydantic's), read back into a config dict.
import { h } from "./dom.js";

function resolve(schema, root) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { ...(root.$defs || {})[name], ...schema, $ref: undefined };
  }
  return schema || {};
}

// The kind of input a property gets, from its (resolved) schema.
function kindOf(prop, root) {
  const p = resolve(prop, root);
  if (p.enum) return { kind: "enum", options: p.enum };
  const variants = (p.anyOf || p.oneOf || [p]).map((v) => resolve(v, root));
  const types = new Set(variants.map((v) => v.type).filter(Boolean));
  const nullable = types.delete("null");
  const enumVariant = variants.find((v) => v.enum);
  if (enumVariant) return { kind: "enum", options: enumVariant.enum, nullable };
  if (types.size === 1 && types.has("boolean")) return { kind: "bool", nullable };
  if (types.size === 1 && types.has("integer")) return { kind: "int", nullable };
  if (types.size === 1 && types.has("number")) return { kind: "number", nullable };
  if (types.has("number") && types.has("string") && types.size === 2) return { kind: "numstr", nullable };
  if (types.size === 1 && types.has("string")) return { kind: "string", nullable };
  if (types.size === 1 && types.has("array")) {
    const items = resolve(variants.find((v) => v.type === "array").items, root);
    const itemTypes = new Set((items.anyOf || [items]).map((v) => resolve(v, root).type));
    if ([...itemTypes].every((t) => t === "number" || t === "integer" || t === "string")) return { kind: "list", nullable };
  }
  return { kind: "json", nullable };
}

const show = (v) => (v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));

export function schemaForm(schema, fixed = {}) {
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  const fields = [];
  const grid = h("div", { class: "schema-form" });
  for (const [name, raw] of Object.entries(props)) {
    const prop = resolve(raw, schema);
    const { kind, options = [], nullable } = kindOf(raw, schema);
    const def = name in fixed ? fixed[name] : prop.default;
    const id = `cfg-${name}`;
    let input;
    if (kind === "bool") {
      input = h("input", { type: "checkbox", id, name, checked: !!def });
    } else if (kind === "enum") {
      input = h("select", { id, name },
        nullable ? h("option", { value: "" }, "—") : null,
        options.map((o) => h("option", { value: JSON.stringify(o), selected: JSON.stringify(o) === JSON.stringify(def) }, String(o))));
    } else if (kind === "json") {
      input = h("textarea", { id, name, rows: 2, spellcheck: "false" }, def === undefined ? "" : JSON.stringify(def));
    } else {
      input = h("input", { id, name, type: kind === "int" || kind === "number" ? "number" : "text",
        step: kind === "int" ? "1" : "any", value: kind === "list" ? (def || []).join(", ") : show(def) });
    }
    if (name in fixed) input.readOnly = input.disabled = true;
    const title = prop.description || (prop.prompt || "").trim();
    grid.append(h("label", { for: id, title: title || undefined, class: required.has(name) ? "req" : undefined },
      prop.title || name), input);
    fields.push({ name, kind, input, required: required.has(name), fixed: name in fixed, nullable });
  }

  // The config dict; fields left blank are left out (the controller's defaults apply). Throws on bad input.
  function value() {
    const out = { ...fixed };
    for (const f of fields) {
      if (f.fixed) continue;
      const el = f.input;
      if (f.kind === "bool") { out[f.name] = el.checked; continue; }
      const text = el.value.trim();
      if (text === "") {
        if (f.required) throw new Error(`${f.name} is required`);
        continue;
      }
      switch (f.kind) {
        case "enum": out[f.name] = JSON.parse(text); break;
        case "int": out[f.name] = parseInt(text, 10); break;
        case "number": out[f.name] = Number(text); break;
        case "numstr": out[f.name] = Number.isFinite(Number(text)) ? Number(text) : text; break;
        case "list": out[f.name] = text.split(",").map((s) => s.trim()).filter(Boolean)
          .map((s) => (Number.isFinite(Number(s)) ? Number(s) : s)); break;
        case "json":
          try { out[f.name] = JSON.parse(text); } catch { throw new Error(`${f.name}: not valid JSON`); }
          break;
        default: out[f.name] = text;
      }
    }
    return out;
  }

  function set(values) {
    for (const f of fields) {
      if (!(f.name in values) || f.fixed) continue;
      const v = values[f.name];
      if (f.kind === "bool") f.input.checked = !!v;
      else if (f.kind === "enum") f.input.value = JSON.stringify(v);
      else if (f.kind === "list") f.input.value = (v || []).join(", ");
      else f.input.value = show(v);
    }
  }

  return { el: grid, value, set };
}
