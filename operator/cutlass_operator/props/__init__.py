"""What each resource kind accepts, as typed, frozen `Props`: the schema layers build against.

These modules import nothing of the AWS side, so layers use them without knowing how a kind
talks to AWS; `resources.registry` maps each type to the kind that implements it.
"""
