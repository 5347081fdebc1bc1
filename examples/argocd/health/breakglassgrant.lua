-- Argo CD health of a BreakGlassGrant (breakglass.dev/v1alpha1). Argo CD runs this on
-- gopher-lua (Lua 5.1) with the object in `obj`; any field may be absent, so check each.
local hs = {}

local function condition(status, kind)
  for _, c in ipairs(status.conditions or {}) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

-- Conditions may carry an empty message; a health line needs something to say.
local function message(c, fallback)
  if c ~= nil and type(c.message) == "string" and c.message ~= "" then
    return c.message
  end
  return fallback
end

local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator"
  return hs
end

-- A status written for an older spec says nothing about the current one. A missing
-- observedGeneration is not "behind": the operator's first writes of a grant precede it.
local observed = status.observedGeneration
if type(observed) == "number" and type(generation) == "number" and observed < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. generation
  return hs
end

local ready = condition(status, "Ready")
local stalled = condition(status, "Stalled")
local paused = condition(status, "AutomationPaused")
local phase = status.phase

-- Stalled means retrying will not help (e.g. unsupported access kind): a person must act.
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = message(stalled, "stalled")
elseif phase == "Denied" then
  hs.status = "Degraded"
  hs.message = message(ready, "denied by the policy")
elseif phase == "Pending" then
  hs.status = "Progressing"
  hs.message = message(ready, message(paused, "pending"))
elseif phase == "Active" then
  -- Access works, but automation that failed to pause may undo the repair. The reason,
  -- not the status, tells: the status stays True when other targets did pause.
  if paused ~= nil and paused.reason == "PauseFailed" then
    hs.status = "Degraded"
    hs.message = message(paused, "pausing automation failed")
  else
    hs.status = "Healthy"
    if type(status.expiresAt) == "string" then
      hs.message = "active until " .. status.expiresAt
    else
      hs.message = message(ready, "active")
    end
  end
elseif phase == "Ended" then
  -- An ended grant is the kept record of finished work, not a failure.
  hs.status = "Healthy"
  hs.message = "ended: " .. tostring(status.endReason or "unknown reason")
else
  -- No phase yet: an early AWS failure is reported only in Ready, so show it.
  hs.status = "Progressing"
  hs.message = message(ready, "waiting for the operator")
end
return hs
