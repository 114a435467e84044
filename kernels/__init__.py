"""Hot numeric code: packing, MinHash/LSH, MLM masking, varlen attention glue."""
