-- Argo CD health of a BreakGlassPolicy (breakglass.dev/v1alpha1). Argo CD runs this on
-- gopher-lua (Lua 5.1) with the object in `obj`; any field may be absent, so check each.
local hs = {}

-- Conditions may carry an empty message; a health line needs something to say.
local function message(c, fallback)
  if type(c.message) == "string" and c.message ~= "" then
    return c.message
  end
  return fallback
end

local status = obj.status
local generation = obj.metadata and obj.metadata.generation
-- The operator writes observedGeneration with every verdict, so a missing or older one
-- means the current spec has not been checked yet.
if status == nil or (type(generation) == "number"
    and (type(status.observedGeneration) ~= "number" or status.observedGeneration < generation)) then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to check the policy"
  return hs
end

local ready = nil
for _, c in ipairs(status.conditions or {}) do
  if c.type == "Ready" then
    ready = c
  end
end

-- A refused policy (bad alert matcher, unsupported access) makes every grant under it fail.
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = message(ready, "rejected by the operator: " .. tostring(ready.reason))
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message(ready, "accepted")
else
  hs.status = "Progressing"
  hs.message = "waiting for the operator to check the policy"
end
return hs
