package critest

// CgroupParent is the cgroupfs parent the suite's sandboxes use.
const CgroupParent = "/berth-critest"
