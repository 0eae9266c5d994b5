"""Language models behind one interface (:class:`kaldi_mpq.lm.interface.LanguageModel`)."""
