"""The record keys every layer shares: one home for the names of the study and subject keys.

SDTM and ADaM identify a subject by ``USUBJID`` within a study ``STUDYID`` (SDTMIG 3.x, ADaMIG
1.3); every module that joins or groups by subject imports the name from here.
"""

STUDY = "STUDYID"
SUBJECT = "USUBJID"
