-- Argo CD health of a CutlassEnvironment or CutlassRegion (the same rules for both kinds).
--
--   Suspended    paused (annotation cutlass.tech/paused: "true"), or a plan waits for a human to
--                approve it (AwaitingApproval=True; its message names the plan and the command).
--   Healthy      Ready=True, computed for the object's current generation.
--   Degraded     Stalled=True or phase Failed: a terminal error the user must fix (bad spec,
--                wrong account); the condition's reason and message say what.
--   Progressing  anything else: not reconciled yet, a spec change the operator has not caught up
--                with (observedGeneration behind metadata.generation), waiting for a dependency,
--                a transient error being retried, or deletion under way.
--
-- Written for Argo CD's Lua 5.1 (gopher-lua): no goto, no integer division, no bit operators.
local hs = {}
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

local function find(type_)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == type_ then
      return condition
    end
  end
  return nil
end

local function describe(condition, fallback)
  if condition == nil then
    return fallback
  end
  local text = condition.reason or fallback
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

if obj.metadata ~= nil and obj.metadata.annotations ~= nil and obj.metadata.annotations["cutlass.tech/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Paused: annotation cutlass.tech/paused is set; no AWS call until it is removed"
  return hs
end

local awaiting = find("AwaitingApproval")
local awaiting_now = awaiting ~= nil and (awaiting.observedGeneration == nil or generation == nil or awaiting.observedGeneration == generation)
if awaiting_now and awaiting.status == "True" then
  hs.status = "Suspended"
  hs.message = describe(awaiting, "AwaitingApproval")
  return hs
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Deleting: the operator is tearing down its AWS resources"
  return hs
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile"
  return hs
end

local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile generation " .. tostring(generation)
  if observed ~= nil then
    hs.message = hs.message .. " (the status describes generation " .. tostring(observed) .. ")"
  end
  return hs
end

local ready = find("Ready")
local stalled = find("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if obj.status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = describe(ready, "Failed")
  return hs
end

local current = ready ~= nil and (ready.observedGeneration == nil or generation == nil or ready.observedGeneration == generation)
if current and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the Ready condition")
return hs
