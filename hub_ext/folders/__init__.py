"""Folder invitations (issue 12): a user's own folders and the invitations that share them.

``disk`` makes the folders and applies the OS grants (ACLs for the invitee's
account); ``records`` keeps the invitations in the portal DB; ``service``
puts the two together and records the activities. No tornado here.
"""
